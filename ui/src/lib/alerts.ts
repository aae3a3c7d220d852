// Alert helpers for the alerts page: the threshold of a rule expression, label fingerprints,
// the service an alert is about. Pure (unit-tested in tests/alerts.test.ts).

import type { Labels } from './api';
import { quote } from './promql';

export interface Comparison {
  /** the side to chart */
  expr: string;
  op: '>' | '<' | '>=' | '<=' | '==' | '!=';
  threshold: number;
}

const NUMBER = /^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+|Inf|NaN)$/i;
const FLIP: Record<Comparison['op'], Comparison['op']> = { '>': '<', '<': '>', '>=': '<=', '<=': '>=', '==': '==', '!=': '!=' };

/**
 * `A > 5` (or <, >=, <=, ==, != with a number on one side, at the top level): the other side and
 * the number. null when the expression is not such a comparison (then chart all of it).
 */
export function splitComparison(expr: string): Comparison | null {
  let depth = 0;
  let quoteCh = '';
  const found: { at: number; op: Comparison['op'] }[] = [];
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (quoteCh) {
      if (c === '\\') i++;
      else if (c === quoteCh) quoteCh = '';
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quoteCh = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === '#') {
      const nl = expr.indexOf('\n', i);
      i = nl < 0 ? expr.length : nl;
    } else if (depth === 0) {
      const two = expr.slice(i, i + 2);
      if (two === '>=' || two === '<=' || two === '==' || two === '!=') {
        found.push({ at: i, op: two as Comparison['op'] });
        i++;
      } else if (c === '>' || c === '<') found.push({ at: i, op: c });
    }
  }
  if (found.length !== 1) return null;
  const { at, op } = found[0]!;
  const lhs = expr.slice(0, at).trim();
  // Drop `bool` and on()/ignoring() after the operator.
  const rhs = expr
    .slice(at + op.length)
    .trim()
    .replace(/^bool\b\s*/, '')
    .replace(/^(?:on|ignoring)\s*\([^)]*\)\s*/, '')
    .trim();
  if (/\b(?:and|or|unless)\b/.test(stripStrings(lhs)) || /\b(?:and|or|unless)\b/.test(stripStrings(rhs))) return null;
  if (NUMBER.test(rhs) && lhs) return { expr: lhs, op, threshold: Number(rhs) };
  if (NUMBER.test(lhs) && rhs) return { expr: rhs, op: FLIP[op], threshold: Number(lhs) };
  return null;
}

function stripStrings(s: string): string {
  let out = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  for (let prev = ''; prev !== out; ) {
    prev = out;
    out = out.replace(/\([^()]*\)|\[[^[\]]*\]|\{[^{}]*\}/g, '');
  }
  return out;
}

/** A stable text of a label set (the `fp` URL value): `a="1",b="x"`, keys sorted. */
export function labelsKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${quote(labels[k]!)}`)
    .join(',');
}

/** The service an alert is about: its service_name, service or job label. */
export function alertService(labels: Labels): string | null {
  return labels.service_name || labels.service || labels.job || null;
}

/** Whether a series of the rule's expression is the one an alert came from. */
export function seriesOfAlert(series: Labels, alert: Labels): boolean {
  return Object.keys(series).every((k) => k === '__name__' || alert[k] === series[k]);
}
