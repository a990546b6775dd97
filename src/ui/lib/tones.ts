// Short WebAudio tones, one pattern per notification kind, so a sound says what happened without looking:
// rising for the queue finished, falling for a failure, three low beeps for a fault, a high blip for a new best,
// one flat note for a plateau. Browser only (an AudioContext made after the person's first click or key).
import type { NotifyKind } from './notify-events.ts';

/** Notes: frequency in Hz and length in ms, played one after another. */
export const TONES: Record<NotifyKind, readonly { hz: number; ms: number }[]> = {
  queue_finished: [{ hz: 523, ms: 120 }, { hz: 659, ms: 120 }, { hz: 784, ms: 200 }],
  file_failed: [{ hz: 440, ms: 160 }, { hz: 330, ms: 240 }],
  trainer_fault: [{ hz: 220, ms: 140 }, { hz: 220, ms: 140 }, { hz: 220, ms: 140 }],
  new_best: [{ hz: 988, ms: 90 }, { hz: 1319, ms: 140 }],
  plateau: [{ hz: 392, ms: 300 }],
};

/** Plays a kind's notes (quiet, with short fades so they do not click). */
export function playTone(ctx: AudioContext, kind: NotifyKind): void {
  let t = ctx.currentTime + 0.02;
  for (const n of TONES[kind]) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.value = n.hz;
    const end = t + n.ms / 1000;
    gain.gain.setValueAtTime(0, t);
    gain.gain.linearRampToValueAtTime(0.15, t + 0.01);
    gain.gain.setValueAtTime(0.15, end - 0.02);
    gain.gain.linearRampToValueAtTime(0, end);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t);
    osc.stop(end);
    t = end + 0.04;
  }
}
