// The page's tabs: the live status stays in view beside them, every tab's panels stay mounted (hidden when not shown,
// so nothing reloads and no state is lost), and each tab keeps its own scroll position. The URL hash names the tab
// (#evaluation), so a link or a reload opens it again. Pure parts; the page does the scrolling.

export type TabId = 'training' | 'data' | 'evaluation' | 'node' | 'storage' | 'settings';

export const TABS: readonly { id: TabId; label: string; title: string }[] = [
  { id: 'training', label: 'Training', title: 'Files in, the queue, the loss chart, samples, chat, models and checkpoints' },
  { id: 'data', label: 'Data', title: 'Each example through the profile (and the regime-3 codebook)' },
  { id: 'evaluation', label: 'Evaluation', title: 'Eval sets and the evolution of fixed prompts' },
  { id: 'node', label: 'Node', title: 'The remote inference node: deploy, evaluate, chat' },
  { id: 'storage', label: 'Storage', title: 'Retention, health of the store, backups' },
  { id: 'settings', label: 'Settings', title: 'Training config, memory, notifications, exports' },
];

export const DEFAULT_TAB: TabId = 'training';

/** The tab a URL hash names (`#data`, case-insensitive), else the default. */
export function tabFromHash(hash: string): TabId {
  const id = hash.replace(/^#/, '').toLowerCase();
  return TABS.find((t) => t.id === id)?.id ?? DEFAULT_TAB;
}

/** Scroll positions per tab: left when the person switches away, given back when they return. */
export class ScrollMemory {
  private readonly at = new Map<TabId, number>();
  leave(tab: TabId, y: number): void {
    this.at.set(tab, Math.max(0, y));
  }
  enter(tab: TabId): number {
    return this.at.get(tab) ?? 0;
  }
}
