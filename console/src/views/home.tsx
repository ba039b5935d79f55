import { useState } from 'preact/hooks';
import type { Client } from '../api/client';
import type { ComputeMetricResponse, Kpi, Segment } from '../api/types';
import { useApp } from '../app';
import { BarChart } from '../components/barchart';
import { KpiTreeView } from '../components/kpitree';
import { ErrorBox, Loading, useAsync } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { formatUnit, kpiUnit, periodRange, periods, type KpiUnit, type Period } from '../kpi';
import { unitFromApi } from '../kpitree';
import { limiter } from '../limit';
import { bucketCount, buckets, grains, type Grain } from '../trend';

/**
 * Home shows every KPI of /v1/kpis as /v1/metrics:compute answers it, for a
 * period and optionally a segment, the KPI tree with targets and what-if
 * (for the whole workspace: a tree's nodes carry their own segments), and
 * a trend.
 */
export function Home() {
  const t = useI18n();
  const { api } = useApp();
  const [period, setPeriod] = useState<Period>('all');
  const [segmentId, setSegmentId] = useState('');
  const segments = useAsync(() => api.get<{ segments?: Segment[] }>('/v1/segments', { pageSize: 1000 }), []);
  const kpis = useAsync(() => api.get<{ kpis?: Kpi[] }>('/v1/kpis'), []);

  return (
    <>
      <h1>{t.t('home.title')}</h1>
      <div class="toolbar">
        <label>
          {t.t('home.period')}{' '}
          <select value={period} onChange={(e) => setPeriod(e.currentTarget.value as Period)}>
            {periods.map((p) => (
              <option key={p} value={p}>{t.t(`period.${p}` as MessageKey)}</option>
            ))}
          </select>
        </label>
        <label>
          {t.t('home.segment')}{' '}
          <select value={segmentId} onChange={(e) => setSegmentId(e.currentTarget.value)}>
            <option value="">{t.t('home.allCustomers')}</option>
            {(segments.data?.segments ?? []).map((s) => (
              <option key={s.segmentId} value={s.segmentId}>{s.displayName}</option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBox error={kpis.error} />
      {kpis.loading && !kpis.data ? <Loading /> : null}
      <div class="kpis">
        {(kpis.data?.kpis ?? []).map((k) => (
          <KpiCard key={`${k.name}:${period}:${segmentId}`} kpi={k} period={period} segmentId={segmentId} />
        ))}
      </div>
      <KpiTreeView period={period} kpis={kpis.data?.kpis ?? []} />
      <Trend segmentId={segmentId} kpis={kpis.data?.kpis ?? []} />
    </>
  );
}

// Computing a KPI scans the orders in range: with many customers each
// takes a while, so the console asks for at most two at a time, the cards
// first (in queue order) and the trend after, and each card shows as soon
// as its figure arrives.
const computeQueue = limiter(2);

function compute(api: Client, body: Record<string, unknown>): Promise<ComputeMetricResponse> {
  return computeQueue(() => api.post<ComputeMetricResponse>('/v1/metrics:compute', body));
}

function KpiCard({ kpi, period, segmentId }: { kpi: Kpi; period: Period; segmentId: string }) {
  const t = useI18n();
  const { api } = useApp();
  const name = kpi.name ?? '';
  const r = useAsync(
    () => compute(api, { kpi: name, ...(segmentId && { segmentId }), ...periodRange(period, new Date()) }),
    [name, period, segmentId],
  );
  const value = r.data;
  return (
    <article class="card kpi" data-kpi={name} aria-busy={r.loading}>
      <h2>{t.tk(`kpi.${name}`, name)}</h2>
      {value ? (
        <>
          <p class="big" data-value={value.value}>{formatUnit(t, unitOf(kpi), value.value)}</p>
          <p class="muted small">
            {t.t('home.basis', { customers: t.number(value.customerCount, 0), orders: t.number(value.orderCount, 0) })}
          </p>
        </>
      ) : r.error ? <ErrorBox error={r.error} /> : <p class="big muted">…</p>}
      <details>
        <summary>{t.t('home.definition')}</summary>
        <p class="small">{t.tk(`kpiHelp.${name}`, kpi.description ?? '')}</p>
      </details>
    </article>
  );
}

/** unitOf is how a KPI reads: the unit /v1/kpis gives, else the console's own table. */
function unitOf(k: Kpi): KpiUnit {
  return k.unit ? unitFromApi(k.unit) : kpiUnit(k.name ?? '');
}

const tickFormat: Record<Grain, Intl.DateTimeFormatOptions> = {
  day: { month: 'numeric', day: 'numeric' },
  week: { month: 'numeric', day: 'numeric' },
  month: { year: '2-digit', month: 'short' },
};

/** Trend is one KPI per local day, week or month, each bar one /v1/metrics:compute. */
function Trend({ segmentId, kpis }: { segmentId: string; kpis: Kpi[] }) {
  const t = useI18n();
  const { api } = useApp();
  const [kpi, setKpi] = useState('revenue');
  const [grain, setGrain] = useState<Grain>('week');
  const chosen = kpis.find((k) => k.name === kpi);
  const unit = chosen ? unitOf(chosen) : kpiUnit(kpi);
  const bars = useAsync(async () => {
    const bs = buckets(grain, bucketCount[grain], Date.now(), t.timeZone);
    return Promise.all(
      bs.map(async (b) => {
        const r = await compute(api, {
          kpi, ...(segmentId && { segmentId }), startTime: new Date(b.start).toISOString(), endTime: new Date(b.end).toISOString(),
        });
        const label = t.dateParts(b.start, tickFormat[grain]);
        return { label: grain === 'week' ? t.t('trend.weekOf', { date: label }) : label, value: r.value ?? 0, text: formatUnit(t, unit, r.value) };
      }),
    );
  }, [kpi, unit, grain, segmentId, t.timeZone, t.lang]);
  const choices = kpis.map((k) => k.name ?? '').filter((k) => k && k !== 'customer_count');
  return (
    <section class="card" aria-labelledby="sec-trend">
      <h2 id="sec-trend">{t.t('trend.title')}</h2>
      <div class="toolbar">
        <label>
          {t.t('trend.kpi')}{' '}
          <select value={kpi} onChange={(e) => setKpi(e.currentTarget.value)}>
            {(choices.length ? choices : ['revenue']).map((k) => <option key={k} value={k}>{t.tk(`kpi.${k}`, k)}</option>)}
          </select>
        </label>
        <label>
          {t.t('trend.grain')}{' '}
          <select value={grain} onChange={(e) => setGrain(e.currentTarget.value as Grain)}>
            {grains.map((g) => <option key={g} value={g}>{t.t(`grain.${g}` as MessageKey)}</option>)}
          </select>
        </label>
      </div>
      <ErrorBox error={bars.error} />
      {bars.data ? (
        <BarChart bars={bars.data} caption={t.t('trend.caption', { kpi: t.tk(`kpi.${kpi}`, kpi), grain: t.t(`grain.${grain}` as MessageKey) })} />
      ) : bars.loading ? <Loading /> : null}
    </section>
  );
}
