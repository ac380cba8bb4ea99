import type { ChunkMatch } from '../repos/chunks';

/**
 * Below this cosine similarity a chunk shares too little with the question to be an
 * answer. Calibrated on the demo bots with the local embedder at 1024 dimensions:
 * answerable questions score 0.12 to 0.30 against their passage, unrelated ones 0.01 to
 * 0.04 (an occasional shared word lifts one to about 0.12).
 */
export const MIN_RELEVANT_SCORE = 0.1;
const MAX_EXCERPTS = 2;
const MAX_EXCERPT_CHARS = 700;

export const NO_MATCH_REPLY =
  "I couldn't find anything about that in this bot's sources. Try rephrasing, or ask about a topic the sources cover.";

function excerpt(content: string): string {
  if (content.length <= MAX_EXCERPT_CHARS) return content;
  const cut = content.slice(0, MAX_EXCERPT_CHARS);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), MAX_EXCERPT_CHARS / 2))}…`;
}

/** A retrieval-based answer: the best-matching passages, quoted, or a plain "nothing found". */
export function buildReply(matches: ChunkMatch[]): string {
  const relevant = matches.filter((match) => match.score >= MIN_RELEVANT_SCORE).slice(0, MAX_EXCERPTS);
  if (relevant.length === 0) return NO_MATCH_REPLY;
  return ['Here is what I found in my sources:', ...relevant.map((match) => excerpt(match.content))].join('\n\n');
}
