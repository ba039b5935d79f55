import { useState } from 'preact/hooks';
import type { ComputeMetricResponse, Kpi, Segment } from '../api/types';
import { useApp } from '../app';
import { ErrorBox, Loading, useAsync } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { BarChart } from '../components/barchart';
import { formatKpi, periodRange, periods, type Period } from '../kpi';
import { bucketCount, buckets, grains, type Grain } from '../trend';

/**
 * Home shows every KPI of /v1/kpis as /v1/metrics:compute answers it, for a
 * period and optionally a segment. Trends, targets and the KPI tree come
 * with the KPI API (issue 15) and slot in above these cards.
 */
export function Home() {
  const t = useI18n();
  const { api } = useApp();
  const [period, setPeriod] = useState<Period>('all');
  const [segmentId, setSegmentId] = useState('');
  const segments = useAsync(() => api.get<{ segments?: Segment[] }>('/v1/segments', { pageSize: 1000 }), []);
  const values = useAsync(async () => {
    const { kpis = [] } = await api.get<{ kpis?: Kpi[] }>('/v1/kpis');
    const range = periodRange(period, new Date());
    return Promise.all(
      kpis.map(async (k) => ({
        kpi: k,
        value: await api.post<ComputeMetricResponse>('/v1/metrics:compute', {
          kpi: k.name, ...(segmentId && { segmentId }), ...range,
        }),
      })),
    );
  }, [period, segmentId]);

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
      <Trend segmentId={segmentId} kpis={(values.data ?? []).map((v) => v.kpi.name ?? '')} />
      <ErrorBox error={values.error} />
      {values.loading && !values.data ? <Loading /> : null}
      <div class="kpis" aria-busy={values.loading}>
        {(values.data ?? []).map(({ kpi, value }) => {
          const name = kpi.name ?? '';
          return (
            <article class="card kpi" key={name} data-kpi={name}>
              <h2>{t.tk(`kpi.${name}`, name)}</h2>
              <p class="big" data-value={value.value}>{formatKpi(t, name, value.value)}</p>
              <p class="muted small">
                {t.t('home.basis', {
                  customers: t.number(value.customerCount, 0),
                  orders: t.number(value.orderCount, 0),
                })}
              </p>
              <details>
                <summary>{t.t('home.definition')}</summary>
                <p class="small">{t.tk(`kpiHelp.${name}`, kpi.description ?? '')}</p>
              </details>
            </article>
          );
        })}
      </div>
    </>
  );
}

const tickFormat: Record<Grain, Intl.DateTimeFormatOptions> = {
  day: { month: 'numeric', day: 'numeric' },
  week: { month: 'numeric', day: 'numeric' },
  month: { year: '2-digit', month: 'short' },
};

/** Trend is one KPI per local day, week or month, each bar one /v1/metrics:compute. */
function Trend({ segmentId, kpis }: { segmentId: string; kpis: string[] }) {
  const t = useI18n();
  const { api } = useApp();
  const [kpi, setKpi] = useState('revenue');
  const [grain, setGrain] = useState<Grain>('week');
  const bars = useAsync(async () => {
    const bs = buckets(grain, bucketCount[grain], Date.now(), t.timeZone);
    return Promise.all(
      bs.map(async (b) => {
        const r = await api.post<ComputeMetricResponse>('/v1/metrics:compute', {
          kpi, ...(segmentId && { segmentId }), startTime: new Date(b.start).toISOString(), endTime: new Date(b.end).toISOString(),
        });
        const label = t.dateParts(b.start, tickFormat[grain]);
        return { label: grain === 'week' ? t.t('trend.weekOf', { date: label }) : label, value: r.value ?? 0, text: formatKpi(t, kpi, r.value) };
      }),
    );
  }, [kpi, grain, segmentId, t.timeZone, t.lang]);
  const choices = kpis.filter((k) => k !== 'customer_count');
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
      <p class="muted small">{t.t('trend.targetsLater')}</p>
    </section>
  );
}
