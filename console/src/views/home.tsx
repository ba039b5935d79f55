import { useState } from 'preact/hooks';
import type { ComputeMetricResponse, Kpi, Segment } from '../api/types';
import { useApp } from '../app';
import { ErrorBox, Loading, useAsync } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { formatKpi, periodRange, periods, type Period } from '../kpi';

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
