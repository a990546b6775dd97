/**
 * Host telemetry of the node: GPU (nvidia-smi when present, otherwise null fields), CPU/RAM/disk,
 * the power profile (not supported without a GPU whose power limit can be set) and log files.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, statfsSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { GpuInfo, GpuTelemetry, LogLines, PowerProfileState, SystemInfo } from '../src/remote/api.ts';
import { HttpError } from './http.ts';

const GB = 1024 ** 3;
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/** One nvidia-smi query (2 s limit); null when there is no NVIDIA GPU or driver. */
function nvidiaSmi(): Promise<string[] | null> {
  return new Promise((resolve) => {
    execFile(
      'nvidia-smi',
      ['--query-gpu=name,driver_version,memory.used,memory.total,utilization.gpu,temperature.gpu,power.draw,fan.speed', '--format=csv,noheader,nounits'],
      { timeout: 2000 },
      (err, stdout) => resolve(err ? null : stdout.trim().split('\n').filter(Boolean)),
    );
  });
}

const num = (s: string | undefined): number | null => {
  const t = s?.trim() ?? '';
  const v = Number(t);
  return t === '' || !Number.isFinite(v) ? null : v;
};

const NO_GPU: GpuTelemetry = { name: null, driver: null, memory_used_gb: null, memory_total_gb: null, utilization_percent: null, temperature_c: null, power_w: null, fan_percent: null };

/** One GPU's row of `nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,utilization.gpu,temperature.gpu,power.draw,fan.speed --format=csv,noheader,nounits`; "[N/A]" fields become null. */
export function parseNvidiaSmiRow(row: string): GpuTelemetry {
  const f = row.split(',').map((s) => s.trim());
  const mib = (s: string | undefined): number | null => (num(s) === null ? null : round((num(s) as number) / 1024));
  return { name: f[0] || null, driver: f[1] || null, memory_used_gb: mib(f[2]), memory_total_gb: mib(f[3]), utilization_percent: num(f[4]), temperature_c: num(f[5]), power_w: num(f[6]), fan_percent: num(f[7]) };
}

export async function gpuTelemetry(): Promise<GpuTelemetry> {
  const rows = await nvidiaSmi();
  return rows?.[0] ? parseNvidiaSmiRow(rows[0]) : { ...NO_GPU };
}

export async function gpuSummary(): Promise<GpuInfo> {
  const rows = await nvidiaSmi();
  if (!rows || rows.length === 0) {
    return { available: false, device_count: 0, device_name: null, memory_allocated_gb: null, memory_reserved_gb: null };
  }
  const g = parseNvidiaSmiRow(rows[0]);
  return { available: true, device_count: rows.length, device_name: g.name, memory_allocated_gb: g.memory_used_gb, memory_reserved_gb: null };
}

export function systemInfo(dataDir: string): SystemInfo {
  const total = totalmem();
  const used = total - freemem();
  const disk: SystemInfo['disk'] = [];
  for (const path of [...new Set(['/', dataDir])]) {
    try {
      const s = statfsSync(path);
      const t = s.blocks * s.bsize;
      const free = s.bavail * s.bsize;
      disk.push({ path, total_gb: round(t / GB), free_gb: round(free / GB), used_percent: t ? round((100 * (t - free)) / t, 1) : 0 });
    } catch {
      // a path that vanished is left out
    }
  }
  return { cpu_load: loadavg().map((x) => round(x)), cpu_count: cpus().length, ram_used_gb: round(used / GB), ram_total_gb: round(total / GB), ram_percent: round((100 * used) / total, 1), disk };
}

export const POWER_PROFILES = { quiet: 220, normal: 280, max: 350 } as const;

export function powerProfile(): PowerProfileState {
  return { supported: false, profile: null, message: 'Power profiles are not supported on this host: it has no GPU whose power limit can be set.' };
}

/** Append-only log files under data/logs, readable through GET /logs/{name}. */
export class Logs {
  static readonly NAMES = ['server', 'jobs'] as const;
  private readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'logs');
    mkdirSync(this.dir, { recursive: true });
  }

  write(name: (typeof Logs.NAMES)[number], line: string): void {
    appendFileSync(join(this.dir, `${name}.log`), `${new Date().toISOString()} ${line}\n`);
  }

  tail(name: string, lines: number): LogLines {
    if (!(Logs.NAMES as readonly string[]).includes(name)) {
      throw new HttpError(404, `No log named "${name}"; known logs: ${Logs.NAMES.join(', ')}.`, 'not_found_error');
    }
    const file = join(this.dir, `${name}.log`);
    const all = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    return { name, lines: all.slice(-lines) };
  }
}
