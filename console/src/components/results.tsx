import { ApiError } from '../api/client';
import { useApp } from '../app';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { arms, axis, liftPoint, verdict, type Results } from '../results';
import { Empty, ErrorBox, Loading, useAsync } from './ui';

/**
 * JourneyResults shows a journey's measured effect (issue 11's
 * GET /v1/journeys/{id}/results): each arm's exposure, conversions and
 * revenue, and each variant's lift over the control as a point with its
 * 95 % interval, so "did it work?" reads at a glance.
 */
export function JourneyResults({ journeyId, version }: { journeyId: string; version: number }) {
  return <ExperimentResults path={`/v1/journeys/${encodeURIComponent(journeyId)}/results`} version={version} />;
}

/**
 * ExperimentResults shows the Results answer at path: a journey's, or a
 * broadcast's (GET /v1/campaigns/{id}/results, its broadcast journey's).
 */
export function ExperimentResults({ path, version }: { path: string; version: number }) {
  const t = useI18n();
  const { api } = useApp();
  const r = useAsync(() => api.get<Results>(path), [path, version]);
  // A gateway without the results API (or a journey never sent) answers
  // 404: said in words rather than as an error.
  if (r.error instanceof ApiError && r.error.status === 404) return <Empty>{t.t('results.none')}</Empty>;
  if (r.error) return <ErrorBox error={r.error} />;
  if (r.loading && !r.data) return <Loading />;
  const list = arms(r.data ?? {});
  if (!list.length) return <Empty>{t.t('results.none')}</Empty>;
  const points = list.flatMap((a) => {
    const p = liftPoint(a.lift);
    return p ? [{ name: a.name, ...p }] : [];
  });
  const srm = r.data?.srm;
  return (
    <>
      {srm?.warning && <p class="error" role="alert">{t.t('results.srmWarning', { p: t.number(srm.pValue, 4) })}</p>}
      <table class="results">
        <thead><tr>
          <th scope="col">{t.t('results.arm')}</th><th scope="col">{t.t('results.exposed')}</th>
          <th scope="col">{t.t('results.converted')}</th><th scope="col">{t.t('results.rate')}</th>
          <th scope="col">{t.t('results.revenue')}</th><th scope="col">{t.t('results.rpe')}</th>
          <th scope="col">{t.t('results.lift')}</th><th scope="col">{t.t('results.p')}</th><th scope="col">{t.t('results.beat')}</th>
        </tr></thead>
        <tbody>
          {list.map((a) => (
            <tr key={a.name} data-arm={a.name}>
              <th scope="row">{a.name === 'holdout' ? t.t('results.holdout') : a.name === 'treatment' ? t.t('results.treatment') : a.name}{a.control ? ` (${t.t('results.control')})` : ''}</th>
              <td class="num">{t.number(a.exposed, 0)}</td>
              <td class="num">{t.number(a.converted, 0)}</td>
              <td class="num">{t.percent(a.conversionRate)}</td>
              <td class="num">{t.yen(a.revenue)}</td>
              <td class="num">{t.yen(a.revenuePerExposed)}</td>
              <td class="num">{a.lift?.relative !== undefined ? signed(t.percent(a.lift.relative), a.lift.relative) : '—'}</td>
              <td class="num">{a.lift?.pValue !== undefined ? t.number(a.lift.pValue, 4) : '—'}</td>
              <td class="num">{a.lift?.probabilityToBeatControl !== undefined ? t.percent(a.lift.probabilityToBeatControl) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {points.length > 0 && <LiftChart points={points} />}
      <p class="muted small">{t.t('results.help')}</p>
    </>
  );
}

function signed(text: string, v: number): string {
  return v > 0 ? `+${text}` : text;
}

/** LiftChart draws each variant's lift and 95 % interval against a zero line. */
function LiftChart({ points }: { points: Array<{ name: string; value: number; kind: string; low: number; high: number }> }) {
  const t = useI18n();
  const w = 640;
  const row = 36;
  const left = 90;
  const h = points.length * row + 30;
  const m = axis(points);
  const x = (v: number) => left + ((v + m) / (2 * m)) * (w - left - 20);
  const fmt = (p: { kind: string }, v: number) => (p.kind === 'relative' ? signed(t.percent(v), v) : signed(`${t.number(v * 100, 2)}pt`, v));
  return (
    <figure class="chart lift-chart">
      <figcaption>{t.t('results.chartCaption')}</figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={t.t('results.chartCaption')}>
        <line x1={x(0)} x2={x(0)} y1={0} y2={h - 20} stroke="#57606a" stroke-dasharray="4 3" />
        <text x={x(0)} y={h - 5} text-anchor="middle" font-size="12" fill="#57606a">0</text>
        {points.map((p, i) => {
          const y = i * row + 20;
          const v = verdict(p);
          const color = v === 'better' ? '#1a7f37' : v === 'worse' ? '#b42318' : '#0a5bd3';
          return (
            <g key={p.name} data-lift={p.name} data-verdict={v}>
              <text x={8} y={y + 4} font-size="13" fill="#1b1f24">{p.name}</text>
              <line x1={x(p.low)} x2={x(p.high)} y1={y} y2={y} stroke={color} stroke-width="3" />
              <line x1={x(p.low)} x2={x(p.low)} y1={y - 6} y2={y + 6} stroke={color} stroke-width="2" />
              <line x1={x(p.high)} x2={x(p.high)} y1={y - 6} y2={y + 6} stroke={color} stroke-width="2" />
              <circle cx={x(p.value)} cy={y} r="5" fill={color} />
              <title>{`${p.name}: ${fmt(p, p.value)} [${fmt(p, p.low)}, ${fmt(p, p.high)}]`}</title>
            </g>
          );
        })}
      </svg>
      <table class="sr-only">
        <caption>{t.t('results.chartCaption')}</caption>
        <tbody>
          {points.map((p) => (
            <tr key={p.name}><th scope="row">{p.name}</th><td>{fmt(p, p.value)}</td><td>{`[${fmt(p, p.low)}, ${fmt(p, p.high)}]`}</td>
              <td>{t.t(`results.verdict.${verdict(p)}` as MessageKey)}</td></tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
