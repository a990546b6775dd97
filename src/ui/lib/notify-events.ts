// What is worth telling a person who is not watching: the events found between two snapshots of the page's live
// state (queue finished, a file failed, the trainer crashed or was paused by a fault, a new best validation loss or
// eval score, a loss plateau), and the tab title that says the state. Pure: the notifier feeds it snapshots and turns
// its events into browser notifications and tones.
import type { DaemonStatus, ItemStatus } from '../../store/db.ts';

export type NotifyKind = 'queue_finished' | 'file_failed' | 'trainer_fault' | 'new_best' | 'plateau';

/** Every event kind with the label of its mute switch, in the order shown. */
export const NOTIFY_KINDS: readonly { kind: NotifyKind; label: string }[] = [
  { kind: 'queue_finished', label: 'Queue finished' },
  { kind: 'file_failed', label: 'A file failed' },
  { kind: 'trainer_fault', label: 'Trainer crashed or paused by a fault' },
  { kind: 'new_best', label: 'New best validation loss or eval score' },
  { kind: 'plateau', label: 'Loss plateau' },
];

export interface NotifyEvent {
  kind: NotifyKind;
  title: string;
  body: string;
  /** Same tag, same event: a second tab or a repeat replaces the notification instead of stacking it. */
  tag: string;
}

/** What the detector compares; build one from the live state after every change. */
export interface WatchSnapshot {
  modelId: string | undefined;
  daemonStatus: DaemonStatus | undefined;
  /** Queue items by id. */
  items: ReadonlyMap<number, { name: string; status: ItemStatus; reason?: string }>;
  /** Newest event-log row of kind fault, crash or restart (its id orders them). */
  lastFault: { id: number; message: string } | null;
  /** Lowest validation loss of the model so far (with its step), null before the first. */
  bestVal: { loss: number; step: number } | null;
  /** Highest exact match per eval set (by name), from results after the base one. */
  bestEval: ReadonlyMap<string, { em: number; step: number }>;
  /** The plateau alert holds now. */
  plateau: boolean;
}

const BUSY: readonly ItemStatus[] = ['validating', 'queued', 'processing', 'paused'];
const WAITING: readonly ItemStatus[] = ['queued', 'processing', 'paused'];
const ENDED: readonly ItemStatus[] = ['completed', 'failed', 'skipped'];

/** Events between two snapshots; none from the first (the page just opened: nothing happened while it watched). */
export function detectEvents(prev: WatchSnapshot | null, next: WatchSnapshot): NotifyEvent[] {
  if (!prev) return [];
  const out: NotifyEvent[] = [];
  for (const [id, it] of next.items) {
    const before = prev.items.get(id);
    if (it.status === 'failed' && before && before.status !== 'failed') {
      out.push({ kind: 'file_failed', title: `File failed: ${it.name}`, body: it.reason ?? 'See its queue item for why.', tag: `file_failed:${id}` });
    }
  }
  // Finished: nothing waits any more, and a file that was queued or training has just ended (deleting the last one,
  // or a dropped file failing validation, is no finish).
  const busyNow = [...next.items.values()].some((i) => BUSY.includes(i.status));
  const ended = [...next.items].some(([id, i]) => ENDED.includes(i.status) && WAITING.includes(prev.items.get(id)?.status ?? 'completed'));
  if (ended && !busyNow && next.daemonStatus !== 'crashed') {
    const items = [...next.items.values()];
    const done = items.filter((i) => i.status === 'completed').length;
    const failed = items.filter((i) => i.status === 'failed').length;
    out.push({ kind: 'queue_finished', title: 'Queue finished', body: `${done} file${done === 1 ? '' : 's'} trained${failed ? `, ${failed} failed` : ''}.`, tag: 'queue_finished' });
  }
  if (next.lastFault && next.lastFault.id > (prev.lastFault?.id ?? 0)) {
    out.push({ kind: 'trainer_fault', title: 'Training stopped by a fault', body: next.lastFault.message, tag: `trainer_fault:${next.lastFault.id}` });
  } else if (next.daemonStatus === 'crashed' && prev.daemonStatus !== 'crashed') {
    out.push({ kind: 'trainer_fault', title: 'The trainer crashed', body: 'See the event log; Resume starts it again.', tag: 'trainer_fault:crashed' });
  }
  if (next.modelId === prev.modelId) {
    if (next.bestVal && prev.bestVal && next.bestVal.loss < prev.bestVal.loss) {
      out.push({ kind: 'new_best', title: `New best validation loss ${next.bestVal.loss.toFixed(4)}`, body: `at step ${next.bestVal.step} (was ${prev.bestVal.loss.toFixed(4)})`, tag: `new_best:val:${next.bestVal.step}` });
    }
    for (const [set, b] of next.bestEval) {
      const was = prev.bestEval.get(set);
      if (was && b.em > was.em) {
        out.push({ kind: 'new_best', title: `New best on ${set}: EM ${(b.em * 100).toFixed(1)} %`, body: `at step ${b.step} (was ${(was.em * 100).toFixed(1)} %)`, tag: `new_best:${set}:${b.step}` });
      }
    }
    if (next.plateau && !prev.plateau) out.push({ kind: 'plateau', title: 'Loss plateau', body: 'The training loss has stopped going down (less than 1 % over 500 steps).', tag: 'plateau' });
  }
  return out;
}

export interface TitleInput {
  status: DaemonStatus | undefined;
  step: number;
  fileStep: number;
  fileSteps: number;
  loss: number | null;
  /** Items still to train (queued, processing, paused). */
  waiting: number;
  failed: number;
}

export const APP_TITLE = 'Training Workbench';

/** The tab title: the state first (readable in a narrow tab), then the app's name. */
export function tabTitle(t: TitleInput): string {
  const pct = t.fileSteps > 0 ? ` ${Math.round((100 * t.fileStep) / t.fileSteps)} %` : '';
  const loss = t.loss != null && Number.isFinite(t.loss) ? ` · loss ${t.loss.toFixed(3)}` : '';
  const failed = t.failed ? ` · ${t.failed} failed` : '';
  let state: string;
  switch (t.status) {
    case 'training':
      state = `▶${pct} · step ${t.step}${loss}`;
      break;
    case 'preparing':
      state = '… preparing';
      break;
    case 'paused':
      state = `⏸ paused · step ${t.step}`;
      break;
    case 'stopped':
      state = `■ stopped · step ${t.step}`;
      break;
    case 'crashed':
      state = '✖ crashed';
      break;
    default:
      state = t.waiting ? `○ idle · ${t.waiting} waiting` : t.step > 0 ? `✓ done · step ${t.step}` : '○ idle';
  }
  return `${state}${failed} — ${APP_TITLE}`;
}
