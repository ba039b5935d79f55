// Journey results (GET /v1/journeys/{id}/results, issue 11's contract) as
// the console shows them: counts as numbers (int64 arrives as a JSON
// string), the control first, and the lift of each other arm as a point
// with its 95 % interval on one axis.

export interface Lift {
  absolute?: number; relative?: number; ciLow?: number; ciHigh?: number; pValue?: number;
  probabilityToBeatControl?: number; expectedLoss?: number;
}
export interface VariantResult {
  name?: string; exposed?: number | string; converted?: number | string; conversionRate?: number;
  revenue?: number; revenuePerExposed?: number; lift?: Lift;
}
export interface Results { variants?: VariantResult[]; srm?: { pValue?: number; warning?: boolean }; control?: string }

export interface Arm {
  name: string; exposed: number; converted: number; conversionRate: number; revenue: number; revenuePerExposed: number;
  lift?: Lift; control: boolean;
}

const num = (v: number | string | undefined) => (v === undefined || v === '' ? 0 : Number(v));

/**
 * arms orders the variants for display: the control first (the one the
 * answer names, else the holdout, or variant A when there is none, as the
 * contract measures lift against it), then the others by name.
 */
export function arms(r: Results): Arm[] {
  const vs = r.variants ?? [];
  const control = r.control ? r.control : vs.some((v) => v.name === 'holdout') ? 'holdout' : vs.some((v) => v.name === 'A') ? 'A' : vs[0]?.name;
  return vs
    .map((v) => ({
      name: v.name ?? '', exposed: num(v.exposed), converted: num(v.converted), conversionRate: v.conversionRate ?? 0,
      revenue: v.revenue ?? 0, revenuePerExposed: v.revenuePerExposed ?? 0, lift: v.name === control ? undefined : v.lift,
      control: v.name === control,
    }))
    .sort((a, b) => (a.control === b.control ? a.name.localeCompare(b.name) : a.control ? -1 : 1));
}

/**
 * liftPoint is the estimate the interval belongs to: the absolute
 * difference when it lies inside [ciLow, ciHigh], else the relative one
 * (the contract gives one interval for both), undefined without one.
 */
export function liftPoint(l: Lift | undefined): { value: number; kind: 'absolute' | 'relative'; low: number; high: number } | undefined {
  if (!l || l.ciLow === undefined || l.ciHigh === undefined) return undefined;
  const inside = (x: number | undefined) => x !== undefined && x >= l.ciLow! && x <= l.ciHigh!;
  if (inside(l.absolute)) return { value: l.absolute!, kind: 'absolute', low: l.ciLow, high: l.ciHigh };
  if (inside(l.relative)) return { value: l.relative!, kind: 'relative', low: l.ciLow, high: l.ciHigh };
  return undefined;
}

/** axis is a symmetric range around 0 holding every interval, with 10 % room. */
export function axis(points: Array<{ low: number; high: number }>): number {
  const m = Math.max(0, ...points.flatMap((p) => [Math.abs(p.low), Math.abs(p.high)]));
  return m === 0 ? 1 : m * 1.1;
}

/** verdict reads an interval: above zero wins, below loses, across is not yet known. */
export function verdict(p: { low: number; high: number }): 'better' | 'worse' | 'unclear' {
  if (p.low > 0) return 'better';
  if (p.high < 0) return 'worse';
  return 'unclear';
}
