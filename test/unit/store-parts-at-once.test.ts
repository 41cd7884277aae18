import { describe, expect, it } from '@jest/globals';
import { SERVICE_POOL_MAX } from '../../src/db/connect.ts';
import { partsAtOnce } from '../../src/modules/requests/store-in-parts.ts';

describe('partsAtOnce: parts stored at once take a quarter of the connection pool at most', () => {
  it('keeps STORE_PARALLELISM within a quarter of the pool', () => {
    expect(partsAtOnce(2, 20)).toBe(2);
    expect(partsAtOnce(5, 20)).toBe(5);
    expect(partsAtOnce(16, 20)).toBe(5);
    expect(partsAtOnce(16, 40)).toBe(10);
  });

  it('stores one part at a time on a pool too small to share', () => {
    expect(partsAtOnce(16, 3)).toBe(1);
    expect(partsAtOnce(1, 20)).toBe(1);
  });

  it('takes the service pool by default: STORE_PARALLELISM 16 leaves three quarters of it to the API and the workers', () => {
    expect(SERVICE_POOL_MAX).toBe(20);
    expect(partsAtOnce(16)).toBe(5);
  });
});
