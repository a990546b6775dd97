// The page's side of "Try it": how the chat panel asks the active checkpoint for an answer (implemented in
// src/main.ts over the trainer worker), streaming the text so far.
import type { ChatMessage } from '../../engine/types.ts';

export type AskFn = (messages: ChatMessage[], onText: (textSoFar: string) => void, signal: AbortSignal) => Promise<string>;
