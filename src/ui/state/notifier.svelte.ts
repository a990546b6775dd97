// Reaches the person who is not watching: turns the events found between snapshots of the live state
// (lib/notify-events.ts) into browser notifications and short tones, each kind mutable; the settings (muted kinds,
// sound on or off) persist in the store's settings table. Permission is asked once, from a click.
import { liveQuery, type Subscription } from 'dexie';
import type { WorkbenchDb } from '../../store/db.ts';
import { SettingsRepo } from '../../store/state.ts';
import { detectEvents, type NotifyEvent, type NotifyKind, type WatchSnapshot } from '../lib/notify-events.ts';
import { playTone } from '../lib/tones.ts';

export const NOTIFY_SETTING = 'notifications';

export interface NotifySettings {
  /** Kinds the person turned off (no notification, no tone). */
  muted: NotifyKind[];
  sound: boolean;
}

/** The first seconds read what is stored (history, evals, the event log): nothing seen then is news. */
const SETTLE_MS = 4000;
/** Events kept for the panel's list. */
const RECENT = 8;

type Permission = NotificationPermission | 'unsupported';

export class Notifier {
  settings = $state.raw<NotifySettings>({ muted: [], sound: true });
  permission = $state<Permission>(typeof Notification === 'undefined' ? 'unsupported' : Notification.permission);
  /** The latest events raised (muted ones included, marked), newest first. */
  recent = $state.raw<(NotifyEvent & { at: number; muted: boolean })[]>([]);

  private prev: WatchSnapshot | null = null;
  private readonly startedAt = Date.now();
  private audio: AudioContext | null = null;
  private sub: Subscription | null = null;

  constructor(private readonly db: WorkbenchDb) {}

  start(): void {
    this.sub = liveQuery(() => this.db.settings.get(NOTIFY_SETTING)).subscribe({
      next: (row) => {
        const v = row?.value as Partial<NotifySettings> | undefined;
        this.settings = { muted: Array.isArray(v?.muted) ? v.muted : [], sound: v?.sound !== false };
      },
      error: console.error,
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
    void this.audio?.close();
  }

  /** Compares with the previous snapshot and raises what changed. */
  observe(next: WatchSnapshot): void {
    const events = detectEvents(this.prev, next);
    this.prev = next;
    if (Date.now() - this.startedAt < SETTLE_MS) return;
    for (const e of events) this.raise(e);
  }

  /** Notification and tone for one event, unless its kind is muted. */
  raise(e: NotifyEvent): void {
    const muted = this.settings.muted.includes(e.kind);
    this.recent = [{ ...e, at: Date.now(), muted }, ...this.recent].slice(0, RECENT);
    if (muted) return;
    if (this.permission === 'granted' || (typeof Notification !== 'undefined' && Notification.permission === 'granted')) {
      try {
        new Notification(e.title, { body: e.body, tag: e.tag, silent: true });
      } catch (err) {
        console.warn('notification refused:', err);
      }
    }
    if (this.settings.sound && this.audio) {
      if (this.audio.state === 'suspended') void this.audio.resume();
      playTone(this.audio, e.kind);
    }
  }

  /** Audio may start only after a gesture: called on the person's first click or key. */
  unlockAudio(): void {
    if (this.audio || typeof AudioContext === 'undefined') return;
    this.audio = new AudioContext();
  }

  /** From a click: asks the browser once (it remembers the answer; a denial can only be undone in its settings). */
  async askPermission(): Promise<Permission> {
    this.unlockAudio();
    if (typeof Notification === 'undefined') return (this.permission = 'unsupported');
    this.permission = Notification.permission === 'default' ? await Notification.requestPermission() : Notification.permission;
    return this.permission;
  }

  async setMuted(kind: NotifyKind, muted: boolean): Promise<void> {
    const set = new Set(this.settings.muted);
    if (muted) set.add(kind);
    else set.delete(kind);
    await this.save({ ...this.settings, muted: [...set] });
  }

  async setSound(on: boolean): Promise<void> {
    await this.save({ ...this.settings, sound: on });
  }

  private async save(s: NotifySettings): Promise<void> {
    this.settings = s;
    await new SettingsRepo(this.db).set(NOTIFY_SETTING, s);
  }
}
