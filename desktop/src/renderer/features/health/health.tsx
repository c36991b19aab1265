import type { ReactNode } from 'react';
import { useSession } from '../../app/session.js';
import { formatCount, formatNumber, formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Badge, Empty } from '../../lib/ui.js';

/** The ops view: database, pipeline backlog and recent figures from GET /api/v1/health. */
export default function Health(): ReactNode {
  const { client, refreshTick } = useSession();
  const { state, reload } = useAsync(() => client.health(60), [client], { pollMs: 15_000, refreshKey: refreshTick });
  return (
    <>
      <h1>Health</h1>
      <AsyncView state={state} onRetry={reload}>
        {(h) => (
          <>
            <div className="row">
              <Badge tone={h.status === 'ok' ? 'good' : 'bad'}>{h.status === 'ok' ? 'All systems normal' : 'Degraded'}</Badge>
              <span className="muted small">
                {h.window.minutes} minutes to {formatTime(h.window.end)}, from {h.source === 'cloudwatch' ? 'CloudWatch' : 'in-process counters'}
              </span>
            </div>
            <div className="grid-2">
              <div className="panel">
                <h2 style={{ marginTop: 0 }}>Database</h2>
                <Badge tone={h.database === 'ok' ? 'good' : 'bad'}>{h.database}</Badge>
              </div>
              <div className="panel">
                <h2 style={{ marginTop: 0 }}>Event pipeline</h2>
                <p>
                  Dead letters: <strong>{h.pipeline.deadLetters === null ? '—' : formatCount(h.pipeline.deadLetters)}</strong> · retrying records: <strong>{h.pipeline.retryingRecords === null ? '—' : formatCount(h.pipeline.retryingRecords)}</strong>
                </p>
              </div>
            </div>
            <h2>Figures</h2>
            {!h.metricsAvailable || h.figures.length === 0 ? (
              <Empty>No metrics in this window yet.</Empty>
            ) : (
              <table aria-label="Health figures">
                <thead>
                  <tr>
                    <th>Figure</th>
                    <th>Statistic</th>
                    <th className="num">Value</th>
                  </tr>
                </thead>
                <tbody>
                  {h.figures.map((f) => (
                    <tr key={`${f.name}-${f.statistic}`}>
                      <td>{f.name}</td>
                      <td>{f.statistic}</td>
                      <td className="num">{f.value === null ? '—' : f.unit === 'Milliseconds' ? `${formatNumber(f.value)} ms` : formatCount(f.value)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </AsyncView>
    </>
  );
}
