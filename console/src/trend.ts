// Time buckets for KPI trends, cut at midnight in the workspace's time zone
// (a Tokyo "day" starts at 15:00 UTC), so a bar equals what
// /v1/metrics:compute answers for that local day, week or month.

export const grains = ['day', 'week', 'month'] as const;
export type Grain = (typeof grains)[number];

/** offsetMs is how far the zone's wall clock is ahead of UTC at instant t. */
export function offsetMs(t: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  }).formatToParts(new Date(t));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - Math.floor(t / 1000) * 1000;
}

/** localMidnight is the instant of 00:00 on the given local date in the zone. */
export function localMidnight(y: number, m: number, d: number, timeZone: string): number {
  const guess = Date.UTC(y, m - 1, d);
  // Twice, so a day where the offset changes lands right.
  let t = guess - offsetMs(guess, timeZone);
  t = guess - offsetMs(t, timeZone);
  return t;
}

/** localDate is the calendar date of instant t in the zone. */
export function localDate(t: number, timeZone: string): { y: number; m: number; d: number } {
  const wall = new Date(t + offsetMs(t, timeZone));
  return { y: wall.getUTCFullYear(), m: wall.getUTCMonth() + 1, d: wall.getUTCDate() };
}

export interface Bucket {
  start: number;
  end: number;
}

/**
 * buckets returns the last n buckets of a grain, oldest first, the last one
 * containing now (and ending at the end of its day, week or month).
 */
export function buckets(grain: Grain, n: number, now: number, timeZone: string): Bucket[] {
  const { y, m, d } = localDate(now, timeZone);
  const starts: Array<{ y: number; m: number; d: number }> = [];
  if (grain === 'month') {
    for (let i = n - 1; i >= -1; i--) {
      const first = new Date(Date.UTC(y, m - 1 - i, 1));
      starts.push({ y: first.getUTCFullYear(), m: first.getUTCMonth() + 1, d: 1 });
    }
  } else {
    const step = grain === 'week' ? 7 : 1;
    // Weeks start on Monday (ISO 8601), as Japanese business calendars do.
    const weekday = (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7;
    const anchor = Date.UTC(y, m - 1, d - (grain === 'week' ? weekday : 0));
    for (let i = n - 1; i >= -1; i--) {
      const s = new Date(anchor - i * step * 86400_000);
      starts.push({ y: s.getUTCFullYear(), m: s.getUTCMonth() + 1, d: s.getUTCDate() });
    }
  }
  const instants = starts.map((s) => localMidnight(s.y, s.m, s.d, timeZone));
  const out: Bucket[] = [];
  for (let i = 0; i + 1 < instants.length; i++) out.push({ start: instants[i], end: instants[i + 1] });
  return out;
}

/** bucketCount is how many bars each grain shows. */
export const bucketCount: Record<Grain, number> = { day: 14, week: 12, month: 12 };
