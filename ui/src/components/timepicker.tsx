import { useState } from 'preact/hooks';
import { setParams, refreshNow, useTime } from '../lib/store';
import { PRESETS, REFRESH_OPTIONS, describeRange, parseTime } from '../lib/time';
import { formatDateTime } from '../lib/format';

function toLocalInput(ms: number): string {
  // datetime-local wants "YYYY-MM-DDTHH:MM" in local time
  return formatDateTime(ms, false).replace(' ', 'T');
}

function fromLocalInput(v: string): number | null {
  if (!v) return null;
  const t = new Date(v).getTime();
  return Number.isNaN(t) ? null : t;
}

export function TimePicker() {
  const time = useTime();
  const [open, setOpen] = useState(false);
  const [customFrom, setCustomFrom] = useState('');
  const [customTo, setCustomTo] = useState('');
  const [err, setErr] = useState('');

  const openMenu = () => {
    setCustomFrom(toLocalInput(time.start));
    setCustomTo(toLocalInput(time.end));
    setErr('');
    setOpen(!open);
  };

  const apply = (e: Event) => {
    e.preventDefault();
    // Accept either a datetime-local value or a relative expression typed by hand ("now-3h").
    const now = Date.now();
    const f = fromLocalInput(customFrom) ?? parseTime(customFrom, now);
    const t = fromLocalInput(customTo) ?? parseTime(customTo, now);
    if (f === null || t === null || f >= t) {
      setErr('"From" must be before "To".');
      return;
    }
    setParams({ from: String(f), to: String(t) });
    setOpen(false);
  };

  const shift = (dir: -1 | 1) => {
    const span = time.end - time.start;
    setParams({ from: String(time.start + dir * span), to: String(time.end + dir * span) });
  };
  const zoomOut = () => {
    const span = time.end - time.start;
    const now = Date.now();
    const to = Math.min(now, time.end + span / 2);
    setParams({ from: String(Math.round(to - span * 2)), to: to === now ? 'now' : String(Math.round(to)) });
  };

  return (
    <div class="timepicker">
      <button type="button" class="btn" title="Earlier" onClick={() => shift(-1)}>
        ‹
      </button>
      <div class="tp-menu-wrap">
        <button type="button" class="btn tp-button" data-testid="time-range" aria-expanded={open} onClick={openMenu}>
          ◷ {describeRange(time.from, time.to, (ms) => formatDateTime(ms, false))}
        </button>
        {open && (
          <div class="tp-menu" role="dialog" aria-label="Time range">
            <div class="tp-presets">
              {PRESETS.map((p) => (
                <button
                  type="button"
                  class={`tp-preset${time.from === p.from && time.to === 'now' ? ' active' : ''}`}
                  data-from={p.from}
                  onClick={() => {
                    setParams({ from: p.from, to: 'now' });
                    setOpen(false);
                  }}
                >
                  {p.label}
                </button>
              ))}
            </div>
            <form class="tp-custom" onSubmit={apply}>
              <label>
                From
                <input type="datetime-local" name="from" value={customFrom} onInput={(e) => setCustomFrom(e.currentTarget.value)} />
              </label>
              <label>
                To
                <input type="datetime-local" name="to" value={customTo} onInput={(e) => setCustomTo(e.currentTarget.value)} />
              </label>
              {err && <div class="tp-error">{err}</div>}
              <button type="submit" class="btn primary">
                Apply
              </button>
            </form>
          </div>
        )}
      </div>
      <button type="button" class="btn" title="Later" onClick={() => shift(1)} disabled={time.to === 'now'}>
        ›
      </button>
      <button type="button" class="btn" title="Zoom out" onClick={zoomOut}>
        −
      </button>
      <button type="button" class="btn" title="Refresh now" data-testid="refresh" onClick={refreshNow}>
        ⟳
      </button>
      <select
        class="btn"
        title="Auto refresh"
        data-testid="auto-refresh"
        value={time.refresh}
        onChange={(e) => setParams({ refresh: e.currentTarget.value })}
      >
        {REFRESH_OPTIONS.map((o) => (
          <option value={o.value}>{o.value ? `Every ${o.label}` : 'Auto-refresh off'}</option>
        ))}
      </select>
    </div>
  );
}
