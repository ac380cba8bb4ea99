import { buildReply, MIN_RELEVANT_SCORE, NO_MATCH_REPLY } from '../../src/chat/reply-builder';

const match = (content: string, score: number) => ({ sourceId: 's', content, score });

describe('buildReply', () => {
  it('says plainly when nothing relevant matched', () => {
    expect(buildReply([])).toBe(NO_MATCH_REPLY);
    expect(buildReply([match('unrelated', MIN_RELEVANT_SCORE - 0.01)])).toBe(NO_MATCH_REPLY);
  });

  it('quotes up to two relevant passages, best first', () => {
    const reply = buildReply([match('best', 0.5), match('second', 0.3), match('third', 0.2)]);
    expect(reply).toBe('Here is what I found in my sources:\n\nbest\n\nsecond');
  });

  it('shortens a long passage at a word boundary', () => {
    const reply = buildReply([match(`${'word '.repeat(300)}end`, 0.9)]);
    expect(reply.length).toBeLessThan(800);
    expect(reply.endsWith('word…')).toBe(true);
  });
});
