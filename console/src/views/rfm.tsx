import type { definitions } from '../api/schema';
import type { Segment } from '../api/types';
import { useApp } from '../app';
import { Empty, ErrorBox, Loading, useAsync } from '../components/ui';
import { useI18n } from '../i18n/i18n';
import { href } from '../router';
import { gridPlacement, rfmAreas } from '../rfm';

const scores = [1, 2, 3, 4, 5];

/**
 * RfmMap draws the named RFM segments as areas of the recency × frequency
 * grid (GET /v1/rfm:grid), each with its customers, share and revenue and a
 * link to its members; the 25 cells follow as a table.
 */
export function RfmMap() {
  const t = useI18n();
  const { api } = useApp();
  const r = useAsync(async () => {
    const [grid, segs] = await Promise.all([
      api.get<definitions['v1GetRfmGridResponse']>('/v1/rfm:grid'),
      api.get<{ segments?: Segment[] }>('/v1/segments', { pageSize: 1000 }),
    ]);
    return { grid, areas: rfmAreas(segs.segments ?? [], grid.cells ?? []) };
  }, []);
  const cells = r.data?.grid.cells ?? [];
  const cell = (rs: number, fs: number) => cells.find((c) => c.recencyScore === rs && c.frequencyScore === fs);
  return (
    <>
      <p><a href={href({ view: 'segments' })}>{t.t('segments.back')}</a></p>
      <h1>{t.t('rfm.title')}</h1>
      <p class="muted">{t.t('rfm.help')}</p>
      <ErrorBox error={r.error} />
      {r.loading && !r.data ? <Loading /> : !r.data ? null : Number(r.data.grid.customers ?? 0) === 0 ? <Empty>{t.t('rfm.none')}</Empty> : (
        <>
          <p data-rfm-total={r.data.grid.customers}>
            {t.t('rfm.total', { n: t.number(r.data.grid.customers, 0), revenue: t.yen(r.data.grid.revenue) })}
          </p>
          <div class="rfm-wrap">
            <span class="rfm-axis-y" aria-hidden="true">{t.t('rfm.axisF')}</span>
            <ul class="rfm-map" aria-label={t.t('rfm.title')}>
              {r.data.areas.map((a) => (
                <li key={a.segmentId} style={gridPlacement(a)} data-rfm={a.segmentId} data-customers={a.customers}>
                  <a href={href({ view: 'segments', segmentId: a.segmentId })}>
                    <strong>{t.tk(`rfm.name.${a.segmentId}`, a.displayName)}</strong>
                    <span class="rfm-count">{t.t('rfm.customers', { n: t.number(a.customers, 0) })} · {t.percent(a.share)}</span>
                    <span class="small">{t.yen(a.revenue)}</span>
                  </a>
                </li>
              ))}
            </ul>
            <span class="rfm-axis-x" aria-hidden="true">{t.t('rfm.axisR')}</span>
          </div>
          <table class="rfm-cells">
            <caption>{t.t('rfm.cellsCaption')}</caption>
            <thead><tr>
              <th scope="col">{t.t('rfm.fr')}</th>
              {scores.map((rs) => <th key={rs} scope="col">R{rs}</th>)}
            </tr></thead>
            <tbody>
              {[...scores].reverse().map((fs) => (
                <tr key={fs}>
                  <th scope="row">F{fs}</th>
                  {scores.map((rs) => {
                    const c = cell(rs, fs);
                    return (
                      <td key={rs} class="num" data-cell={`${rs}${fs}`}>
                        {t.number(c?.customers ?? 0, 0)}<br /><span class="muted small">{t.yen(c?.revenue ?? 0)}</span>
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}
