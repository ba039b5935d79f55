import { describe, expect, it } from 'vitest';
import { gridPlacement, rfmAreas } from '../src/rfm';

// Three of the server's named segments (their rules as GET /v1/segments
// answers them) and a user segment that must not be drawn.
const segments = [
  { segmentId: 'rfm_champions', displayName: '優良顧客 (Champions)', builtIn: true,
    rule: { rfm: { recency: { min: 5, max: 5 }, frequency: { min: 4, max: 5 } } } },
  { segmentId: 'rfm_lost', displayName: '離反顧客 (Lost)', builtIn: true,
    rule: { rfm: { recency: { min: 1, max: 1 }, frequency: { min: 1, max: 2 } } } },
  { segmentId: 'rfm_loyal', displayName: 'ロイヤル顧客 (Loyal)', builtIn: true,
    rule: { rfm: { recency: { min: 3, max: 4 }, frequency: { min: 4, max: 5 } } } },
  { segmentId: 'seg_1', displayName: 'Mine', builtIn: false, rule: { rfm: { recency: { min: 1, max: 5 } } } },
  { segmentId: 'lifecycle_new', displayName: 'New', builtIn: true, rule: { lifecycle: { stages: ['NEW'] } } },
];

function grid(): Array<{ recencyScore: number; frequencyScore: number; customers: string; revenue: number }> {
  const cells = [];
  for (let r = 1; r <= 5; r++) {
    for (let f = 1; f <= 5; f++) cells.push({ recencyScore: r, frequencyScore: f, customers: String(r * 10 + f), revenue: (r * 10 + f) * 1000 });
  }
  return cells;
}

describe('rfmAreas', () => {
  const areas = rfmAreas(segments as never, grid());
  it('keeps only the built-in RFM segments, best rows first', () => {
    expect(areas.map((a) => a.segmentId)).toEqual(['rfm_loyal', 'rfm_champions', 'rfm_lost']);
  });
  it('sums the cells inside each range', () => {
    const champions = areas.find((a) => a.segmentId === 'rfm_champions')!;
    expect(champions.customers).toBe(54 + 55);
    expect(champions.revenue).toBe((54 + 55) * 1000);
    const loyal = areas.find((a) => a.segmentId === 'rfm_loyal')!;
    expect(loyal.customers).toBe(34 + 35 + 44 + 45);
    const total = grid().reduce((n, c) => n + Number(c.customers), 0);
    expect(champions.share).toBeCloseTo(109 / total);
  });
  it('says 0 % of an empty grid', () => {
    expect(rfmAreas(segments as never, []).every((a) => a.customers === 0 && a.share === 0)).toBe(true);
  });
});

describe('gridPlacement', () => {
  it.each([
    [{ recency: [5, 5], frequency: [4, 5] }, { gridColumn: '5 / 6', gridRow: '1 / 3' }],
    [{ recency: [1, 1], frequency: [1, 2] }, { gridColumn: '1 / 2', gridRow: '4 / 6' }],
    [{ recency: [3, 3], frequency: [3, 3] }, { gridColumn: '3 / 4', gridRow: '3 / 4' }],
  ] as const)('%j', (a, want) => {
    expect(gridPlacement(a as never)).toEqual(want);
  });
});
