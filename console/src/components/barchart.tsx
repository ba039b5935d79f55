// A small bar chart in SVG: one bar per bucket, each with its value as a
// tooltip, and the same figures as a table for screen readers. Enough for
// one KPI's trend; a chart library comes with the KPI tree and lift charts.

export interface Bar {
  label: string;
  value: number;
  text: string;
}

export function BarChart({ bars, caption }: { bars: Bar[]; caption: string }) {
  const w = 900;
  const h = 180;
  const pad = 24;
  const max = Math.max(...bars.map((b) => b.value), 0) || 1;
  const bw = (w - pad) / Math.max(bars.length, 1);
  const every = bars.length > 12 ? 2 : 1;
  return (
    <figure class="chart">
      <figcaption>{caption}</figcaption>
      <svg viewBox={`0 0 ${w} ${h + pad}`} role="img" aria-label={caption}>
        <line x1={pad / 2} x2={w - pad / 2} y1={h} y2={h} class="axis" />
        {bars.map((b, i) => {
          const bh = Math.max((b.value / max) * (h - 20), b.value > 0 ? 1 : 0);
          const x = pad / 2 + i * bw + bw * 0.15;
          return (
            <g key={i} data-bar={b.label} data-value={b.value}>
              <rect x={x} y={h - bh} width={bw * 0.7} height={bh} class="bar">
                <title>{`${b.label}: ${b.text}`}</title>
              </rect>
              {i % every === 0 && (
                <text x={x + bw * 0.35} y={h + 16} text-anchor="middle" class="tick">{b.label}</text>
              )}
            </g>
          );
        })}
      </svg>
      <table class="sr-only">
        <caption>{caption}</caption>
        <tbody>
          {bars.map((b, i) => (
            <tr key={i}><th scope="row">{b.label}</th><td>{b.text}</td></tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
