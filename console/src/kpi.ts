// How each KPI of /v1/kpis reads: money, a count, a ratio or a plain number.
import type { I18n } from './i18n/i18n';

export type KpiUnit = 'yen' | 'count' | 'ratio' | 'number';

const units: Record<string, KpiUnit> = {
  customer_count: 'count',
  revenue: 'yen',
  order_count: 'count',
  aov: 'yen',
  purchase_frequency: 'number',
  repeat_purchase_rate: 'ratio',
  historical_ltv: 'yen',
};

/** kpiUnit is how to show a KPI; unknown (newer) KPIs show as numbers. */
export function kpiUnit(name: string): KpiUnit {
  return units[name] ?? 'number';
}

export function formatKpi(t: I18n, name: string, value: number | undefined): string {
  return formatUnit(t, kpiUnit(name), value);
}

/** formatUnit shows a value in a unit: ¥ without decimals, a count, a percentage. */
export function formatUnit(t: I18n, unit: KpiUnit, value: number | undefined): string {
  switch (unit) {
    case 'yen':
      return t.yen(value);
    case 'count':
      return t.number(value, 0);
    case 'ratio':
      return t.percent(value);
    default:
      return t.number(value, 2);
  }
}

export const periods = ['all', 'last7', 'last30', 'last90'] as const;
export type Period = (typeof periods)[number];

/** periodRange is the time range of a period ending at now, open when 'all'. */
export function periodRange(p: Period, now: Date): { startTime?: string; endTime?: string } {
  const days = { all: 0, last7: 7, last30: 30, last90: 90 }[p];
  if (!days) return {};
  return { startTime: new Date(now.getTime() - days * 86400_000).toISOString(), endTime: now.toISOString() };
}
