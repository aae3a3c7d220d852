// The PromQL editor of the metrics explorer: CodeMirror 6 with @prometheus-io/codemirror-promql
// (highlighting, linting, completion of functions, metric names, label names and values from
// Lookout's Prometheus API). Loaded with a dynamic import: it costs nothing on other pages.

import { EditorState, Prec } from '@codemirror/state';
import { EditorView, keymap, placeholder as placeholderExt, drawSelection, highlightSpecialChars } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, insertNewlineAndIndent } from '@codemirror/commands';
import { acceptCompletion, autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap, completionStatus } from '@codemirror/autocomplete';
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { lintKeymap } from '@codemirror/lint';
import { PromQLExtension } from '@prometheus-io/codemirror-promql';

export interface PromQLEditor {
  getValue(): string;
  setValue(v: string): void;
  /** replaces the selection (or inserts at the cursor) */
  insert(text: string): void;
  focus(): void;
  destroy(): void;
}

/** Answers the one endpoint Lookout does not serve (flags) locally; everything else goes to the API. */
const fetchFn: typeof fetch = (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (url.includes('/api/v1/status/flags')) {
    return Promise.resolve(
      new Response(JSON.stringify({ status: 'success', data: { 'query.lookback-delta': '5m' } }), {
        headers: { 'Content-Type': 'application/json' },
      }),
    );
  }
  return fetch(input, init);
};

export function createPromQLEditor(
  parent: HTMLElement,
  opts: { value: string; onChange: (v: string) => void; onRun: () => void; placeholder?: string },
): PromQLEditor {
  const promql = new PromQLExtension().setComplete({
    remote: { url: '', httpMethod: 'GET', fetchFn, lookbackInterval: 12 * 3600 * 1000 },
    maxMetricsMetadata: 10000,
  });
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: opts.value,
      extensions: [
        highlightSpecialChars(),
        history(),
        drawSelection(),
        bracketMatching(),
        closeBrackets(),
        autocompletion({ activateOnTyping: true }),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        placeholderExt(opts.placeholder ?? 'PromQL, e.g. rate(traces_span_metrics_calls_total[5m])'),
        EditorView.lineWrapping,
        promql.asExtension(),
        Prec.highest(
          keymap.of([
            {
              key: 'Enter',
              run: (v) => {
                if (completionStatus(v.state) === 'active') return acceptCompletion(v);
                opts.onRun();
                return true;
              },
            },
            { key: 'Shift-Enter', run: insertNewlineAndIndent },
          ]),
        ),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap]),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) opts.onChange(u.state.doc.toString());
        }),
        EditorView.contentAttributes.of({ 'aria-label': 'PromQL query', 'data-testid': 'promql-input' }),
      ],
    }),
  });
  return {
    getValue: () => view.state.doc.toString(),
    setValue: (v) => {
      if (v !== view.state.doc.toString()) view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: v } });
    },
    insert: (text) => {
      view.dispatch(view.state.replaceSelection(text));
      view.focus();
    },
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  };
}
