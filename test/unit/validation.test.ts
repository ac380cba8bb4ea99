import { BadUserInputError } from '../../src/core/errors';
import { optionalText, requireId, requireIntInRange, requireText } from '../../src/core/validation';

describe('validation', () => {
  it('accepts UUIDs and rejects anything else as bad input naming the field', () => {
    expect(requireId('01930000-0000-7000-8000-0000000000AB', 'id')).toBe('01930000-0000-7000-8000-0000000000ab');
    expect(() => requireId('42', 'botId')).toThrow(BadUserInputError);
    const error = (() => {
      try {
        return requireId("1' OR 1=1", 'botId');
      } catch (caught: unknown) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(BadUserInputError);
    expect((error as BadUserInputError).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'botId' });
  });

  it('trims text and counts characters, not UTF-16 units', () => {
    expect(requireText('  hi  ', 'text', { max: 2 })).toBe('hi');
    expect(requireText('😀😀', 'text', { max: 2 })).toBe('😀😀');
    expect(() => requireText('😀😀😀', 'text', { max: 2 })).toThrow('text must be at most 2 characters.');
    expect(() => requireText(' \n ', 'text', { max: 10 })).toThrow('text must not be empty.');
  });

  it('distinguishes unset, cleared and set optional text', () => {
    expect(optionalText(undefined, 'd', 5)).toBeUndefined();
    expect(optionalText(null, 'd', 5)).toBeNull();
    expect(optionalText('   ', 'd', 5)).toBeNull();
    expect(optionalText(' ok ', 'd', 5)).toBe('ok');
  });

  it('applies the fallback to a missing number and bounds a given one', () => {
    const range = { min: 1, max: 50, fallback: 5 };
    expect(requireIntInRange(null, 'limit', range)).toBe(5);
    expect(requireIntInRange(50, 'limit', range)).toBe(50);
    expect(() => requireIntInRange(51, 'limit', range)).toThrow('limit must be between 1 and 50.');
    expect(() => requireIntInRange(0, 'limit', range)).toThrow(BadUserInputError);
  });
});
