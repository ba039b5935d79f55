import { describe, expect, it } from 'vitest';
import { buckets, localDate, localMidnight, offsetMs } from '../src/trend';

const iso = (t: number) => new Date(t).toISOString();

describe('trend buckets', () => {
  it('knows zone offsets', () => {
    expect(offsetMs(Date.UTC(2026, 11, 5), 'Asia/Tokyo')).toBe(9 * 3600_000);
    expect(offsetMs(Date.UTC(2026, 6, 1), 'Europe/Berlin')).toBe(2 * 3600_000);
    expect(offsetMs(Date.UTC(2026, 0, 1), 'Europe/Berlin')).toBe(3600_000);
  });
  it('finds local midnight, across a daylight-saving change', () => {
    expect(iso(localMidnight(2026, 12, 5, 'Asia/Tokyo'))).toBe('2026-12-04T15:00:00.000Z');
    expect(iso(localMidnight(2026, 3, 29, 'Europe/Berlin'))).toBe('2026-03-28T23:00:00.000Z');
    expect(iso(localMidnight(2026, 3, 30, 'Europe/Berlin'))).toBe('2026-03-29T22:00:00.000Z');
  });
  it('reads the local date', () => {
    expect(localDate(Date.parse('2026-12-04T16:00:00Z'), 'Asia/Tokyo')).toEqual({ y: 2026, m: 12, d: 5 });
    expect(localDate(Date.parse('2026-12-04T16:00:00Z'), 'UTC')).toEqual({ y: 2026, m: 12, d: 4 });
  });
  it('cuts days, Monday weeks and months in the zone, the last holding now', () => {
    const now = Date.parse('2026-12-05T03:00:00Z'); // Saturday noon in Tokyo
    const days = buckets('day', 3, now, 'Asia/Tokyo');
    expect(days.map((b) => iso(b.start))).toEqual(['2026-12-02T15:00:00.000Z', '2026-12-03T15:00:00.000Z', '2026-12-04T15:00:00.000Z']);
    expect(iso(days[2].end)).toBe('2026-12-05T15:00:00.000Z');
    const weeks = buckets('week', 2, now, 'Asia/Tokyo');
    expect(weeks.map((b) => iso(b.start))).toEqual(['2026-11-22T15:00:00.000Z', '2026-11-29T15:00:00.000Z']);
    expect(iso(weeks[1].end)).toBe('2026-12-06T15:00:00.000Z');
    const months = buckets('month', 13, now, 'Asia/Tokyo');
    expect(months).toHaveLength(13);
    expect(iso(months[0].start)).toBe('2025-11-30T15:00:00.000Z');
    expect(iso(months[12].start)).toBe('2026-11-30T15:00:00.000Z');
    expect(iso(months[12].end)).toBe('2026-12-31T15:00:00.000Z');
    for (let i = 1; i < months.length; i++) expect(months[i].start).toBe(months[i - 1].end);
  });
});
