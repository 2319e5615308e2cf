import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { oneLine, PruneLensError } from '../../../src/core/errors';

describe('one-line errors', () => {
  it('joins lines of a message', () => {
    assert.equal(oneLine(new Error('first\n   second\nthird')), 'first second third');
  });

  it('shortens a huge message', () => {
    const paths = Array.from({ length: 100_000 }, () => 'group1-shard1of1.bin').join(', ');
    const line = oneLine(new PruneLensError('model.json', `lists ${paths}`));
    assert.ok(line.startsWith('model.json: lists group1-shard1of1.bin'));
    assert.ok(line.length < 1100, `${line.length} characters`);
    assert.match(line, /… \(\d+ characters\)$/);
  });
});
