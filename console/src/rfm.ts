// The RFM map: the named RFM segments (the segmentation service's built-in
// rfm_* segments, whose rules are recency × frequency score ranges) laid
// over the 5 × 5 grid of GET /v1/rfm:grid, each with the customers and
// revenue of the cells it covers. The ranges come from the segments' rules
// as the API returns them, so the map follows the server's definition.
import type { definitions } from './api/schema';

type Segment = definitions['v1Segment'];
type Cell = definitions['v1RfmCell'];

export interface RfmArea {
  segmentId: string;
  displayName: string;
  /** Inclusive score ranges, 1–5 each. */
  recency: [number, number];
  frequency: [number, number];
  customers: number;
  revenue: number;
  /** The area's share of the grid's customers (0 when the grid is empty). */
  share: number;
}

const range = (r: { min?: number; max?: number } | undefined): [number, number] => [r?.min || 1, r?.max || 5];

/**
 * rfmAreas returns the built-in segments whose rule is one RFM condition
 * on recency and frequency, each with the totals of its grid cells, in the
 * order of the map's rows (frequency 5 first) and columns (recency 1 first).
 */
export function rfmAreas(segments: Segment[], cells: Cell[]): RfmArea[] {
  const total = cells.reduce((n, c) => n + Number(c.customers ?? 0), 0);
  const areas: RfmArea[] = [];
  for (const s of segments) {
    const rfm = s.rule?.rfm;
    if (!s.builtIn || !rfm || !s.segmentId?.startsWith('rfm_') || (!rfm.recency && !rfm.frequency)) continue;
    const recency = range(rfm.recency);
    const frequency = range(rfm.frequency);
    let customers = 0;
    let revenue = 0;
    for (const c of cells) {
      const r = c.recencyScore ?? 0;
      const f = c.frequencyScore ?? 0;
      if (r >= recency[0] && r <= recency[1] && f >= frequency[0] && f <= frequency[1]) {
        customers += Number(c.customers ?? 0);
        revenue += c.revenue ?? 0;
      }
    }
    areas.push({
      segmentId: s.segmentId, displayName: s.displayName ?? s.segmentId, recency, frequency,
      customers, revenue, share: total ? customers / total : 0,
    });
  }
  return areas.sort((a, b) => b.frequency[1] - a.frequency[1] || a.recency[0] - b.recency[0]);
}

/**
 * gridPlacement is an area's place in a CSS grid whose columns are the
 * recency scores 1→5 and whose rows are the frequency scores 5→1 (the best
 * customers top right).
 */
export function gridPlacement(a: Pick<RfmArea, 'recency' | 'frequency'>): { gridColumn: string; gridRow: string } {
  return {
    gridColumn: `${a.recency[0]} / ${a.recency[1] + 1}`,
    gridRow: `${6 - a.frequency[1]} / ${7 - a.frequency[0]}`,
  };
}
