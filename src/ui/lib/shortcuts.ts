// Keyboard shortcuts of the page: space pauses or resumes, `s` stops, `?` lists them. Pure mapping from a key event
// to an action; nothing fires while the person types in a field or holds a modifier.
import type { DaemonStatus } from '../../store/db.ts';

export type ShortcutAction = 'pause' | 'resume' | 'stop' | 'help';

/** The shortcuts as the help lists them. */
export const SHORTCUTS: readonly { keys: string; does: string }[] = [
  { keys: 'Space', does: 'pause training, or resume it when paused, stopped or crashed' },
  { keys: 's', does: 'stop (the file keeps its progress and goes back to the queue)' },
  { keys: '?', does: 'show or hide this list' },
  { keys: 'Esc', does: 'close this list' },
];

/** The parts of a KeyboardEvent the mapping reads. */
export interface KeyLike {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  repeat?: boolean;
  /** The focused element the key went to (an Element in the page; any object with these fields in tests). */
  target?: unknown;
}

interface TargetLike {
  tagName?: string;
  isContentEditable?: boolean;
  getAttribute?(name: string): string | null;
}
const asTarget = (t: unknown): TargetLike | null => (t && typeof t === 'object' ? (t as TargetLike) : null);

const FIELDS = new Set(['INPUT', 'TEXTAREA', 'SELECT']);
/** Elements that space activates itself (a focused button must not also pause). */
const SPACE_TARGETS = new Set(['BUTTON', 'A', 'SUMMARY']);

/** True while the person types: in an input, text area, select or editable element. */
export function isTyping(t: unknown): boolean {
  const target = asTarget(t);
  if (!target) return false;
  return FIELDS.has((target.tagName ?? '').toUpperCase()) || target.isContentEditable === true;
}

/** The action a key press asks for, or null (typing, a modifier held, a repeat, another key). */
export function shortcutAction(e: KeyLike, status: DaemonStatus | undefined): ShortcutAction | null {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat || isTyping(e.target)) return null;
  if (e.key === '?') return 'help';
  if (e.key === 's' || e.key === 'S') return status === 'training' || status === 'preparing' || status === 'paused' ? 'stop' : null;
  if (e.key === ' ' || e.key === 'Spacebar') {
    const target = asTarget(e.target);
    const tag = (target?.tagName ?? '').toUpperCase();
    if (SPACE_TARGETS.has(tag) || target?.getAttribute?.('role') === 'button') return null;
    if (status === 'training' || status === 'preparing' || status === 'idle') return 'pause';
    if (status === 'paused' || status === 'stopped' || status === 'crashed') return 'resume';
  }
  return null;
}
