import type { AnchorHTMLAttributes, ComponentChildren } from 'preact';
import { ApiError, type HealthStatus } from '../lib/api';
import { navigate } from '../lib/store';
import type { SortState } from '../lib/url';

/** An API or network error, shown where the data would be. */
export function ErrorBox({ error }: { error: Error }) {
  const api = error instanceof ApiError ? error : null;
  return (
    <div class="error-box" role="alert" data-error-type={api?.errorType ?? ''}>
      <strong>{api ? (api.status ? `Error ${api.status}` : 'Network error') : 'Error'}</strong>
      {api?.errorType && <span class="error-type">{api.errorType}</span>}
      <span class="error-message">{error.message}</span>
    </div>
  );
}

/**
 * A link inside the app: plain clicks navigate with the History API; modified clicks (new tab)
 * and links leaving /ui/ behave as ordinary links.
 */
export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const { href, onClick, ...rest } = props;
  const internal = href.startsWith('/ui/') || href === '/ui';
  return (
    <a
      href={href}
      {...rest}
      onClick={(e) => {
        if (onClick) (onClick as (e: MouseEvent) => void)(e);
        if (!internal || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(href);
      }}
    />
  );
}

export function StatusBadge({ status }: { status: HealthStatus | string }) {
  return (
    <span class={`badge status-${status}`} data-status={status}>
      {status}
    </span>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return <div class="loading">{label}</div>;
}

/** A sortable column header; the sort lives in the URL. */
export function SortHeader(props: {
  label: string;
  col: string;
  sort: SortState;
  onSort: (col: string) => void;
  numeric?: boolean;
  title?: string;
}) {
  const active = props.sort.key === props.col;
  return (
    <th
      class={`sortable${props.numeric ? ' num' : ''}${active ? ' active' : ''}`}
      aria-sort={active ? (props.sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}
      title={props.title}
    >
      <button type="button" onClick={() => props.onSort(props.col)} data-sort={props.col}>
        {props.label}
        <span class="sort-arrow">{active ? (props.sort.dir === 'asc' ? '▲' : '▼') : ''}</span>
      </button>
    </th>
  );
}

export function PageHeader({ title, children }: { title: ComponentChildren; children?: ComponentChildren }) {
  return (
    <div class="page-header">
      <h1>{title}</h1>
      <div class="page-actions">{children}</div>
    </div>
  );
}

export function Placeholder({ title, text }: { title: string; text: string }) {
  return (
    <div class="page" data-page="placeholder" data-ready="true">
      <PageHeader title={title} />
      <div class="panel placeholder">{text}</div>
    </div>
  );
}
