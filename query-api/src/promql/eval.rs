//! Evaluation of a parsed expression over all steps of a query at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use lookout_storage::series::is_stale;
use lookout_storage::{Labels, MatchOp, Matcher, PickAt, SampleBudget, SelectLimits, SeriesReader};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Expr, LabelModifier, Offset, SubqueryExpr,
    VectorMatchCardinality, VectorSelector,
};

use super::functions;
use super::{drop_name, PromqlConfig, PromqlError, Range};

/// A query's result.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Vector(Vec<Sample>),
    Scalar(i64, f64),
    String(i64, String),
    Matrix(Vec<Series>),
}

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// A series of a matrix, points oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// An instant vector over all steps: one value (or none) per step.
#[derive(Clone, Debug)]
pub(crate) struct StepSeries {
    pub labels: Labels,
    pub values: Vec<Option<f64>>,
}

/// A range vector over all steps: samples, and the window end of each step.
#[derive(Clone, Debug)]
pub(crate) struct Matrix {
    pub series: Vec<(Labels, Vec<(i64, f64)>)>,
    pub range: i64,
    pub times: Vec<i64>,
}

impl Matrix {
    /// The samples of series `i` in the window of step `step`: `(t - range, t]`.
    pub fn window(&self, i: usize, step: usize) -> &[(i64, f64)] {
        let samples = &self.series[i].1;
        let end = self.times[step];
        let from = samples.partition_point(|(t, _)| *t <= end - self.range);
        let to = samples.partition_point(|(t, _)| *t <= end);
        &samples[from..to.max(from)]
    }
}

/// A selected series and its samples.
type Loaded = (Labels, Vec<(i64, f64)>);

#[derive(Clone, Debug)]
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Vector(Vec<StepSeries>),
    Matrix(Matrix),
    String(String),
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
            Val::String(_) => "string",
        }
    }
}

pub(crate) struct Evaluator<'a> {
    reader: &'a dyn SeriesReader,
    config: &'a PromqlConfig,
    /// The query's own range (for `@ start()` / `@ end()`).
    query: Range,
    /// The range being evaluated (a subquery's differs).
    pub range: Range,
    deadline: Instant,
    loaded: usize,
    budget: &'a Arc<SampleBudget>,
    /// Samples taken from `budget`, given back when the evaluation ends.
    held: usize,
}

impl Drop for Evaluator<'_> {
    fn drop(&mut self) {
        self.budget.give_back(self.held);
    }
}

fn millis(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// What an instant selector evaluated at `times` reads of each series.
fn pick_at(times: &[i64], lookback_ms: i64) -> PickAt {
    let mut times = times.to_vec();
    times.sort_unstable();
    times.dedup();
    PickAt { times, lookback_ms }
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

pub(crate) fn kahan_add(sum: &mut f64, c: &mut f64, x: f64) {
    let t = *sum + x;
    if t.is_infinite() {
        *c = 0.0;
    } else if sum.abs() >= x.abs() {
        *c += (*sum - t) + x;
    } else {
        *c += (x - t) + *sum;
    }
    *sum = t;
}

impl<'a> Evaluator<'a> {
    pub fn new(
        reader: &'a dyn SeriesReader,
        config: &'a PromqlConfig,
        budget: &'a Arc<SampleBudget>,
        range: Range,
        deadline: Instant,
    ) -> Self {
        Evaluator {
            reader,
            config,
            query: range,
            range,
            deadline,
            loaded: 0,
            budget,
            held: 0,
        }
    }

    pub fn steps(&self) -> usize {
        ((self.range.end - self.range.start) / self.range.step + 1) as usize
    }

    pub fn times(&self) -> Vec<i64> {
        (0..self.steps())
            .map(|i| self.range.start + i as i64 * self.range.step)
            .collect()
    }

    /// Refuses a result of `series` series over this range's steps before it is built, when
    /// it would pass the sample budget (Prometheus counts the samples of every step vector
    /// held in memory against `max_samples` the same way).
    fn check_points(&self, series: usize) -> Result<(), PromqlError> {
        if series.saturating_mul(self.steps()) > self.config.max_samples {
            return Err(PromqlError::Limit(
                "query processing would load too many samples into memory in query execution"
                    .into(),
            ));
        }
        Ok(())
    }

    pub fn check_deadline(&self) -> Result<(), PromqlError> {
        if lookout_storage::cancel::expired(Some(self.deadline)) {
            return Err(PromqlError::Timeout("query execution"));
        }
        Ok(())
    }

    fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query.start),
            Some(AtModifier::End) => Some(self.query.end),
            Some(AtModifier::At(t)) => Some(millis(t)),
        }
    }

    /// The evaluation time of each step for a selector with `offset` and `@`.
    fn eval_times(&self, offset: &Option<Offset>, at: &Option<AtModifier>) -> Vec<i64> {
        let off = offset_ms(offset);
        match self.at_time(at) {
            Some(t) => vec![t - off; self.steps()],
            None => self.times().into_iter().map(|t| t - off).collect(),
        }
    }

    fn load(
        &mut self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
        at: Option<PickAt>,
    ) -> Result<Vec<Loaded>, PromqlError> {
        let convert = |ms: &[promql_parser::label::Matcher]| -> Vec<Matcher> {
            let mut out: Vec<Matcher> = ms
                .iter()
                .map(|m| Matcher {
                    name: m.name.clone(),
                    op: match &m.op {
                        PMatchOp::Equal => MatchOp::Equal(m.value.clone()),
                        PMatchOp::NotEqual => MatchOp::NotEqual(m.value.clone()),
                        PMatchOp::Re(r) => MatchOp::Re(r.clone()),
                        PMatchOp::NotRe(r) => MatchOp::NotRe(r.clone()),
                    },
                })
                .collect();
            if let Some(name) = &vs.name {
                if !out.iter().any(|m| m.name == "__name__") {
                    out.push(Matcher::equal("__name__", name));
                }
            }
            out
        };
        let mut groups = vec![convert(&vs.matchers.matchers)];
        for or in &vs.matchers.or_matchers {
            groups.push(convert(or));
        }
        if vs.matchers.matchers.is_empty() && !vs.matchers.or_matchers.is_empty() {
            groups.remove(0);
        }
        let limits = SelectLimits {
            max_series: self.config.max_series,
            max_samples: self.config.max_samples.saturating_sub(self.loaded),
            deadline: Some(self.deadline),
            budget: Some(Arc::clone(self.budget)),
            at: at.map(Arc::new),
        };
        let mut seen: HashMap<Labels, ()> = HashMap::new();
        let mut out = Vec::new();
        for matchers in groups {
            let selected = self.reader.select(&matchers, mint, maxt, limits.clone())?;
            self.held += selected.iter().map(|s| s.samples.len()).sum::<usize>();
            for s in selected {
                let labels = (*s.labels).clone();
                if seen.insert(labels.clone(), ()).is_some() {
                    continue;
                }
                self.loaded += s.samples.len();
                if self.loaded > self.config.max_samples {
                    return Err(PromqlError::Limit(
                        "query processing would load too many samples into memory in query execution".into(),
                    ));
                }
                out.push((labels, s.samples));
            }
        }
        Ok(out)
    }

    fn vector_selector(&mut self, vs: &VectorSelector) -> Result<Vec<StepSeries>, PromqlError> {
        let times = self.eval_times(&vs.offset, &vs.at);
        let lookback = self.config.lookback_delta.as_millis() as i64;
        let (lo, hi) = min_max(&times);
        let data = self.load(vs, lo - lookback + 1, hi, Some(pick_at(&times, lookback)))?;
        self.check_points(data.len())?;
        let mut out = Vec::with_capacity(data.len());
        for (labels, samples) in data {
            let values: Vec<Option<f64>> = times
                .iter()
                .map(|&t| {
                    let i = samples.partition_point(|(st, _)| *st <= t);
                    let (st, v) = *samples.get(i.checked_sub(1)?)?;
                    (st > t - lookback && !is_stale(v)).then_some(v)
                })
                .collect();
            if values.iter().any(Option::is_some) {
                out.push(StepSeries { labels, values });
            }
        }
        Ok(out)
    }

    /// Sample timestamps instead of values, for `timestamp(selector)`.
    pub fn vector_selector_times(
        &mut self,
        vs: &VectorSelector,
    ) -> Result<Vec<StepSeries>, PromqlError> {
        let times = self.eval_times(&vs.offset, &vs.at);
        let lookback = self.config.lookback_delta.as_millis() as i64;
        let (lo, hi) = min_max(&times);
        let data = self.load(vs, lo - lookback + 1, hi, Some(pick_at(&times, lookback)))?;
        self.check_points(data.len())?;
        let mut out = Vec::new();
        for (labels, samples) in data {
            let values: Vec<Option<f64>> = times
                .iter()
                .map(|&t| {
                    let i = samples.partition_point(|(st, _)| *st <= t);
                    let (st, v) = *samples.get(i.checked_sub(1)?)?;
                    (st > t - lookback && !is_stale(v)).then_some(st as f64 / 1000.0)
                })
                .collect();
            if values.iter().any(Option::is_some) {
                out.push(StepSeries {
                    labels: drop_name(&labels),
                    values,
                });
            }
        }
        Ok(out)
    }

    fn matrix_selector(&mut self, vs: &VectorSelector, range: i64) -> Result<Matrix, PromqlError> {
        let times = self.eval_times(&vs.offset, &vs.at);
        let (lo, hi) = min_max(&times);
        let mut data = self.load(vs, lo - range + 1, hi, None)?;
        for (_, samples) in data.iter_mut() {
            samples.retain(|(_, v)| !is_stale(*v));
        }
        data.retain(|(_, s)| !s.is_empty());
        Ok(Matrix {
            series: data,
            range,
            times,
        })
    }

    fn subquery(&mut self, sq: &SubqueryExpr) -> Result<Matrix, PromqlError> {
        let range = sq.range.as_millis() as i64;
        let step = sq
            .step
            .map(|s| s.as_millis() as i64)
            .unwrap_or(60_000)
            .max(1);
        let times = self.eval_times(&sq.offset, &sq.at);
        let (lo, hi) = min_max(&times);
        let from = lo - range;
        let mut start = step * (from / step);
        if start < from {
            start += step;
        }
        // Go-style truncating division leaves `start` above `from` for negative times.
        while start - step >= from && start - step > from {
            start -= step;
        }
        let saved = self.range;
        if hi < start {
            return Ok(Matrix {
                series: Vec::new(),
                range,
                times,
            });
        }
        // Every inner step costs memory per series: bound them as a range query's points.
        let inner_steps = (hi - start) / step + 1;
        let max_steps = self.config.max_points.saturating_mul(100) as i64;
        if inner_steps > max_steps {
            return Err(PromqlError::Limit(format!(
                "subquery would be evaluated at {inner_steps} steps, more than {max_steps}: use a coarser subquery step"
            )));
        }
        self.range = Range {
            start,
            end: hi,
            step,
        };
        let inner = self.eval(&sq.expr);
        let inner_times = self.times();
        self.range = saved;
        let series = match inner? {
            Val::Vector(v) => v
                .into_iter()
                .map(|s| {
                    let points: Vec<(i64, f64)> = s
                        .values
                        .iter()
                        .zip(&inner_times)
                        .filter_map(|(v, t)| v.map(|v| (*t, v)))
                        .collect();
                    (s.labels, points)
                })
                .filter(|(_, p)| !p.is_empty())
                .collect(),
            Val::Scalar(v) => vec![(
                Labels::default(),
                v.into_iter()
                    .zip(inner_times)
                    .map(|(v, t)| (t, v))
                    .collect(),
            )],
            other => {
                return Err(PromqlError::BadData(format!(
                    "subquery is only allowed on instant vector, got {} instead",
                    other.type_name()
                )))
            }
        };
        Ok(Matrix {
            series,
            range,
            times,
        })
    }

    pub fn eval(&mut self, expr: &Expr) -> Result<Val, PromqlError> {
        self.check_deadline()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; self.steps()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => match self.eval(&u.expr)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(v) => Ok(Val::Vector(merge_same_labels(
                    v.into_iter()
                        .map(|s| StepSeries {
                            labels: drop_name(&s.labels),
                            values: s.values.into_iter().map(|x| x.map(|x| -x)).collect(),
                        })
                        .collect(),
                )?)),
                other => Err(PromqlError::BadData(format!(
                    "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                    other.type_name()
                ))),
            },
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.vector_selector(vs)?)),
            Expr::MatrixSelector(ms) => Ok(Val::Matrix(
                self.matrix_selector(&ms.vs, ms.range.as_millis() as i64)?,
            )),
            Expr::Subquery(sq) => Ok(Val::Matrix(self.subquery(sq)?)),
            Expr::Call(call) => self.checked(|ev| functions::call(ev, call)),
            Expr::Aggregate(agg) => self.checked(|ev| ev.aggregate(agg)),
            Expr::Binary(b) => self.checked(|ev| ev.binary(b)),
            Expr::Extension(_) => Err(PromqlError::BadData("unsupported expression".into())),
        }
    }

    /// Evaluates a node whose output a selector's check does not cover (a function over range
    /// vectors, a join), checking the deadline and the output's size after it.
    fn checked(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Val, PromqlError>,
    ) -> Result<Val, PromqlError> {
        let value = f(self)?;
        self.check_deadline()?;
        if let Val::Vector(v) = &value {
            self.check_points(v.len())?;
        }
        Ok(value)
    }

    pub fn eval_scalar(&mut self, expr: &Expr, what: &str) -> Result<Vec<f64>, PromqlError> {
        match self.eval(expr)? {
            Val::Scalar(v) => Ok(v),
            other => Err(PromqlError::BadData(format!(
                "expected type scalar in {what}, got {}",
                other.type_name()
            ))),
        }
    }

    pub fn eval_vector(&mut self, expr: &Expr, what: &str) -> Result<Vec<StepSeries>, PromqlError> {
        match self.eval(expr)? {
            Val::Vector(v) => Ok(v),
            other => Err(PromqlError::BadData(format!(
                "expected type instant vector in {what}, got {}",
                other.type_name()
            ))),
        }
    }

    pub fn eval_matrix(&mut self, expr: &Expr, what: &str) -> Result<Matrix, PromqlError> {
        match self.eval(expr)? {
            Val::Matrix(m) => Ok(m),
            other => Err(PromqlError::BadData(format!(
                "expected type range vector in {what}, got {}",
                other.type_name()
            ))),
        }
    }

    pub fn finish(&mut self, value: Val, instant: bool) -> Result<Value, PromqlError> {
        let times = self.times();
        if instant {
            let t = self.range.start;
            return Ok(match value {
                Val::Scalar(v) => Value::Scalar(t, v.first().copied().unwrap_or(f64::NAN)),
                Val::String(s) => Value::String(t, s),
                Val::Vector(v) => Value::Vector(
                    v.into_iter()
                        .filter_map(|s| {
                            Some(Sample {
                                v: s.values.first().copied().flatten()?,
                                labels: s.labels,
                                t,
                            })
                        })
                        .collect(),
                ),
                Val::Matrix(m) => Value::Matrix(
                    (0..m.series.len())
                        .map(|i| Series {
                            labels: m.series[i].0.clone(),
                            points: m.window(i, 0).to_vec(),
                        })
                        .filter(|s| !s.points.is_empty())
                        .collect(),
                ),
            });
        }
        match value {
            Val::Scalar(v) => Ok(Value::Matrix(vec![Series {
                labels: Labels::default(),
                points: times.into_iter().zip(v).collect(),
            }])),
            Val::Vector(v) => Ok(Value::Matrix(
                v.into_iter()
                    .map(|s| Series {
                        labels: s.labels,
                        points: s
                            .values
                            .iter()
                            .zip(&times)
                            .filter_map(|(v, t)| v.map(|v| (*t, v)))
                            .collect(),
                    })
                    .filter(|s| !s.points.is_empty())
                    .collect(),
            )),
            other => {
                Err(PromqlError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                if matches!(other, Val::Matrix(_)) { "range vector" } else { "string" }
            )))
            }
        }
    }

    fn aggregate(&mut self, agg: &AggregateExpr) -> Result<Val, PromqlError> {
        let op = agg.op.to_string().to_lowercase();
        let steps = self.steps();
        if op == "limit_ratio" || op == "limitk" {
            return Err(PromqlError::Unsupported(format!(
                "{op} is an experimental function and is not supported"
            )));
        }
        let param = match (&agg.param, op.as_str()) {
            (Some(p), "count_values") => match self.eval(p)? {
                Val::String(s) => Param::Label(s),
                other => {
                    return Err(PromqlError::BadData(format!(
                        "expected string parameter for count_values, got {}",
                        other.type_name()
                    )))
                }
            },
            (Some(p), _) => Param::Scalar(self.eval_scalar(p, "aggregation parameter")?),
            (None, _) => Param::None,
        };
        let input = self.eval_vector(&agg.expr, "aggregation")?;
        self.check_deadline()?;
        // The group of a series: its `by` labels, or all but `without` and the name (the
        // same projection as a binary operator's `on`/`ignoring` signature).
        let group_labels = |labels: &Labels| -> Labels {
            match &agg.modifier {
                None => Labels::default(),
                Some(m) => signature(labels, Some(m)),
            }
        };
        // Groups in order of first appearance.
        let mut order: Vec<Labels> = Vec::new();
        let mut members: HashMap<Labels, Vec<usize>> = HashMap::new();
        for (i, s) in input.iter().enumerate() {
            let key = group_labels(&s.labels);
            members
                .entry(key.clone())
                .or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                })
                .push(i);
        }
        if let Param::Label(label) = &param {
            if !is_valid_label_name(label) {
                return Err(PromqlError::Execution(format!(
                    "invalid label name \"{label}\""
                )));
            }
        }
        let mut out: Vec<StepSeries> = Vec::new();
        match op.as_str() {
            "topk" | "bottomk" => {
                let Param::Scalar(k) = &param else {
                    return Err(PromqlError::BadData(format!("{op} needs a parameter")));
                };
                let mut values: Vec<Vec<Option<f64>>> = vec![vec![None; steps]; input.len()];
                for step in 0..steps {
                    let kf = k[step];
                    if kf.is_nan() {
                        return Err(PromqlError::Execution(format!(
                            "Parameter value is NaN for {op}"
                        )));
                    }
                    if kf < 1.0 {
                        continue;
                    }
                    if kf >= 9.223372036854776e18 {
                        return Err(PromqlError::Execution(format!(
                            "Scalar value {kf} overflows int64"
                        )));
                    }
                    let k = kf as usize;
                    for key in &order {
                        let mut present: Vec<(usize, f64)> = members[key]
                            .iter()
                            .filter_map(|&i| Some((i, input[i].values[step]?)))
                            .collect();
                        if op != "limitk" {
                            let top = op == "topk";
                            present.sort_by(|a, b| rank(a.1, b.1, top));
                        }
                        for (i, v) in present.into_iter().take(k) {
                            values[i][step] = Some(v);
                        }
                    }
                }
                for (s, values) in input.into_iter().zip(values) {
                    if values.iter().any(Option::is_some) {
                        out.push(StepSeries {
                            labels: s.labels,
                            values,
                        });
                    }
                }
                if steps == 1 {
                    // An instant result lists the chosen elements in rank order.
                    let top = op == "topk";
                    out.sort_by(|a, b| {
                        rank(
                            a.values[0].unwrap_or(f64::NAN),
                            b.values[0].unwrap_or(f64::NAN),
                            top,
                        )
                    });
                }
                return Ok(Val::Vector(out));
            }
            "count_values" => {
                let Param::Label(label) = &param else {
                    return Err(PromqlError::BadData("count_values needs a label".into()));
                };
                let mut result: HashMap<Labels, Vec<Option<f64>>> = HashMap::new();
                let mut result_order = Vec::new();
                for key in &order {
                    for step in 0..steps {
                        for &i in &members[key] {
                            let Some(v) = input[i].values[step] else {
                                continue;
                            };
                            let mut labels = key.clone();
                            labels.0.retain(|(n, _)| n != label);
                            labels.0.push((label.clone(), format_value(v)));
                            labels.0.sort_by(|a, b| a.0.cmp(&b.0));
                            let entry = result.entry(labels.clone()).or_insert_with(|| {
                                result_order.push(labels);
                                vec![None; steps]
                            });
                            *entry[step].get_or_insert(0.0) += 1.0;
                        }
                    }
                }
                for labels in result_order {
                    let values = result.remove(&labels).unwrap_or_default();
                    out.push(StepSeries { labels, values });
                }
                return Ok(Val::Vector(out));
            }
            _ => {}
        }
        for key in order {
            let idx = &members[&key];
            let mut values = vec![None; steps];
            for (step, slot) in values.iter_mut().enumerate() {
                let xs: Vec<f64> = idx.iter().filter_map(|&i| input[i].values[step]).collect();
                if xs.is_empty() {
                    continue;
                }
                *slot = Some(match op.as_str() {
                    "sum" => {
                        let (mut s, mut c) = (0.0, 0.0);
                        for x in &xs {
                            kahan_add(&mut s, &mut c, *x);
                        }
                        s + c
                    }
                    "avg" => mean(&xs),
                    "count" => xs.len() as f64,
                    "group" => 1.0,
                    "min" => {
                        xs.iter()
                            .copied()
                            .fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a })
                    }
                    "max" => {
                        xs.iter()
                            .copied()
                            .fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a })
                    }
                    "stddev" => stdvar(&xs).sqrt(),
                    "stdvar" => stdvar(&xs),
                    "quantile" => {
                        let Param::Scalar(q) = &param else {
                            return Err(PromqlError::BadData("quantile needs a parameter".into()));
                        };
                        quantile(q[step], xs)
                    }
                    "limit_ratio" => {
                        return Err(PromqlError::Unsupported(
                            "limit_ratio is an experimental function and is not supported".into(),
                        ))
                    }
                    other => {
                        return Err(PromqlError::BadData(format!("unknown aggregation {other}")))
                    }
                });
            }
            out.push(StepSeries {
                labels: key,
                values,
            });
        }
        Ok(Val::Vector(out))
    }

    fn binary(&mut self, b: &BinaryExpr) -> Result<Val, PromqlError> {
        let op = b.op.to_string().to_lowercase();
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        if let Some(m) = &b.modifier {
            if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                return Err(PromqlError::Unsupported(
                    "fill modifiers are experimental and not supported".into(),
                ));
            }
        }
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        self.check_deadline()?;
        let comparison = is_comparison(&op);
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => {
                let v = l
                    .iter()
                    .zip(&r)
                    .map(|(a, b)| {
                        let (v, keep) = scalar_op(&op, *a, *b);
                        if comparison {
                            if keep { 1.0 } else { 0.0 }
                        } else {
                            v
                        }
                    })
                    .collect();
                Ok(Val::Scalar(v))
            }
            (Val::Vector(v), Val::Scalar(s)) => {
                Ok(Val::Vector(vector_scalar(v, &s, &op, return_bool, false)?))
            }
            (Val::Scalar(s), Val::Vector(v)) => {
                Ok(Val::Vector(vector_scalar(v, &s, &op, return_bool, true)?))
            }
            (Val::Vector(l), Val::Vector(r)) => {
                let steps = self.steps();
                let card = b
                    .modifier
                    .as_ref()
                    .map(|m| m.card.clone())
                    .unwrap_or(VectorMatchCardinality::OneToOne);
                let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
                match op.as_str() {
                    "and" | "or" | "unless" => {
                        Ok(Val::Vector(set_op(&op, l, r, matching.as_ref(), steps)?))
                    }
                    _ => Ok(Val::Vector(vector_vector(
                        l,
                        r,
                        &op,
                        return_bool,
                        &card,
                        matching.as_ref(),
                        steps,
                    )?)),
                }
            }
            (l, r) => Err(PromqlError::BadData(format!(
                "binary expression must contain only scalar and instant vector types, got {} and {}",
                l.type_name(),
                r.type_name()
            ))),
        }
    }
}

enum Param {
    None,
    Scalar(Vec<f64>),
    Label(String),
}

fn min_max(times: &[i64]) -> (i64, i64) {
    let lo = times.iter().copied().min().unwrap_or(0);
    let hi = times.iter().copied().max().unwrap_or(0);
    (lo, hi)
}

/// Order of values for `topk`/`bottomk`/`sort`/`sort_desc`: ascending, or descending with
/// `desc`; NaN last either way, as Prometheus sorts them.
pub(crate) fn rank(x: f64, y: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if desc => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
        _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

pub(crate) fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A float as Prometheus prints it in label values (Go's `FormatFloat(v, 'f', -1, 64)`).
pub(crate) fn format_value(v: f64) -> String {
    lookout_proto::prometheus::format_label_float(v)
}

pub(crate) fn mean(xs: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for x in xs {
        kahan_add(&mut s, &mut c, *x);
    }
    let sum = s + c;
    if sum.is_finite() || xs.iter().any(|x| x.is_infinite() || x.is_nan()) {
        return sum / xs.len() as f64;
    }
    // The sum overflowed: an incremental mean stays in range.
    let mut m = 0.0;
    for (i, x) in xs.iter().enumerate() {
        m += x / (i + 1) as f64 - m / (i + 1) as f64;
    }
    m
}

pub(crate) fn stdvar(xs: &[f64]) -> f64 {
    let (mut count, mut m, mut c, mut acc) = (0.0, 0.0, 0.0, 0.0);
    for &x in xs {
        count += 1.0;
        let delta = x - (m + c);
        kahan_add(&mut m, &mut c, delta / count);
        acc += delta * (x - (m + c));
    }
    acc / count
}

/// Prometheus's `quantile` over values (linear interpolation between closest ranks).
pub(crate) fn quantile(q: f64, mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaN sorts first, as Go's sort.Float64s does.
    xs.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = xs.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    xs[lower as usize] * (1.0 - weight) + xs[upper as usize] * weight
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// `(value, keep)`: for comparisons, whether the comparison holds.
fn scalar_op(op: &str, a: f64, b: f64) -> (f64, bool) {
    match op {
        "+" => (a + b, true),
        "-" => (a - b, true),
        "*" => (a * b, true),
        "/" => (a / b, true),
        "%" => (a % b, true),
        "^" => (a.powf(b), true),
        "atan2" => (a.atan2(b), true),
        "==" => (a, a == b),
        "!=" => (a, a != b),
        ">" => (a, a > b),
        "<" => (a, a < b),
        ">=" => (a, a >= b),
        "<=" => (a, a <= b),
        _ => (f64::NAN, false),
    }
}

fn vector_scalar(
    v: Vec<StepSeries>,
    s: &[f64],
    op: &str,
    return_bool: bool,
    scalar_left: bool,
) -> Result<Vec<StepSeries>, PromqlError> {
    let comparison = is_comparison(op);
    let drop = !comparison || return_bool;
    let out = v
        .into_iter()
        .map(|series| {
            let values = series
                .values
                .iter()
                .zip(s)
                .map(|(x, sv)| {
                    let x = (*x)?;
                    let (a, b) = if scalar_left { (*sv, x) } else { (x, *sv) };
                    let (value, keep) = scalar_op(op, a, b);
                    if comparison {
                        if return_bool {
                            Some(if keep { 1.0 } else { 0.0 })
                        } else {
                            keep.then_some(x)
                        }
                    } else {
                        Some(value)
                    }
                })
                .collect();
            StepSeries {
                labels: if drop {
                    drop_name(&series.labels)
                } else {
                    series.labels
                },
                values,
            }
        })
        .filter(|s| s.values.iter().any(Option::is_some))
        .collect();
    if drop {
        merge_same_labels(out)
    } else {
        Ok(out)
    }
}

/// The matching signature of a series under `on`/`ignoring`.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(on)) => Labels(
            labels
                .0
                .iter()
                .filter(|(n, _)| on.labels.iter().any(|k| k == n))
                .cloned()
                .collect(),
        ),
        Some(LabelModifier::Exclude(ignoring)) => Labels(
            labels
                .0
                .iter()
                .filter(|(n, _)| n != "__name__" && !ignoring.labels.iter().any(|k| k == n))
                .cloned()
                .collect(),
        ),
        None => drop_name(labels),
    }
}

fn set_op(
    op: &str,
    l: Vec<StepSeries>,
    r: Vec<StepSeries>,
    matching: Option<&LabelModifier>,
    steps: usize,
) -> Result<Vec<StepSeries>, PromqlError> {
    let lsig: Vec<Labels> = l.iter().map(|s| signature(&s.labels, matching)).collect();
    let rsig: Vec<Labels> = r.iter().map(|s| signature(&s.labels, matching)).collect();
    let mut out = Vec::new();
    match op {
        "and" | "unless" => {
            let mut by_sig: HashMap<&Labels, Vec<usize>> = HashMap::new();
            for (j, sig) in rsig.iter().enumerate() {
                by_sig.entry(sig).or_default().push(j);
            }
            for (i, s) in l.iter().enumerate() {
                let rs = by_sig.get(&lsig[i]);
                let values = (0..steps)
                    .map(|step| {
                        let v = s.values[step]?;
                        let matched =
                            rs.is_some_and(|rs| rs.iter().any(|&j| r[j].values[step].is_some()));
                        ((op == "and") == matched).then_some(v)
                    })
                    .collect::<Vec<_>>();
                if values.iter().any(Option::is_some) {
                    out.push(StepSeries {
                        labels: s.labels.clone(),
                        values,
                    });
                }
            }
        }
        _ => {
            // or: every left element, and right elements whose signature the left lacks.
            let mut by_sig: HashMap<&Labels, Vec<usize>> = HashMap::new();
            for (i, sig) in lsig.iter().enumerate() {
                by_sig.entry(sig).or_default().push(i);
            }
            for s in &l {
                out.push(s.clone());
            }
            for (j, s) in r.iter().enumerate() {
                let ls = by_sig.get(&rsig[j]);
                let values = (0..steps)
                    .map(|step| {
                        let v = s.values[step]?;
                        let matched =
                            ls.is_some_and(|ls| ls.iter().any(|&i| l[i].values[step].is_some()));
                        (!matched).then_some(v)
                    })
                    .collect::<Vec<_>>();
                if values.iter().any(Option::is_some) {
                    out.push(StepSeries {
                        labels: s.labels.clone(),
                        values,
                    });
                }
            }
            out.retain(|s| s.values.iter().any(Option::is_some));
            // Elements whose names were dropped can share labels across steps.
            return merge_same_labels(out);
        }
    }
    Ok(out)
}

fn render(labels: &Labels) -> String {
    let inner: Vec<String> = labels.0.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn vector_vector(
    l: Vec<StepSeries>,
    r: Vec<StepSeries>,
    op: &str,
    return_bool: bool,
    card: &VectorMatchCardinality,
    matching: Option<&LabelModifier>,
    steps: usize,
) -> Result<Vec<StepSeries>, PromqlError> {
    let comparison = is_comparison(op);
    // The "many" side is on the left; group_right swaps.
    let (many, one, swapped, include) = match card {
        VectorMatchCardinality::OneToMany(inc) => (r, l, true, Some(inc.clone())),
        VectorMatchCardinality::ManyToOne(inc) => (l, r, false, Some(inc.clone())),
        _ => (l, r, false, None),
    };
    let one_to_one = include.is_none();
    let many_sig: Vec<Labels> = many
        .iter()
        .map(|s| signature(&s.labels, matching))
        .collect();
    let one_sig: Vec<Labels> = one.iter().map(|s| signature(&s.labels, matching)).collect();
    let mut by_sig: HashMap<&Labels, Vec<usize>> = HashMap::new();
    for (j, sig) in one_sig.iter().enumerate() {
        by_sig.entry(sig).or_default().push(j);
    }
    let mut result: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<StepSeries> = Vec::new();
    // For one-to-one matching, which left series produced a result per (signature, step).
    let mut used: HashMap<(&Labels, usize), ()> = HashMap::new();
    for step in 0..steps {
        // The "one" side's element per signature at this step (must be unique).
        let mut one_at: HashMap<&Labels, usize> = HashMap::new();
        for (sig, js) in &by_sig {
            let present: Vec<usize> = js
                .iter()
                .copied()
                .filter(|&j| one[j].values[step].is_some())
                .collect();
            if present.len() > 1 {
                let side = if swapped { "left" } else { "right" };
                return Err(PromqlError::Execution(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    render(sig),
                    render(&one[present[0]].labels),
                    render(&one[present[1]].labels)
                )));
            }
            if let Some(&j) = present.first() {
                one_at.insert(sig, j);
            }
        }
        for (i, s) in many.iter().enumerate() {
            let Some(mv) = s.values[step] else { continue };
            let Some(&j) = one_at.get(&many_sig[i]) else {
                continue;
            };
            let Some(ov) = one[j].values[step] else {
                continue;
            };
            if one_to_one && used.insert((&many_sig[i], step), ()).is_some() {
                return Err(PromqlError::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".to_string(),
                ));
            }
            let (lv, rv) = if swapped { (ov, mv) } else { (mv, ov) };
            let (value, keep) = scalar_op(op, lv, rv);
            let value = if comparison {
                if return_bool {
                    if keep {
                        1.0
                    } else {
                        0.0
                    }
                } else if !keep {
                    continue;
                } else {
                    // The left operand's value (the vector element value for comparisons).
                    lv
                }
            } else {
                value
            };
            let labels = result_labels(
                &s.labels,
                &one[j].labels,
                op,
                return_bool,
                matching,
                include.as_ref(),
            );
            let k = match result.get(&labels) {
                Some(k) => *k,
                None => {
                    out.push(StepSeries {
                        labels: labels.clone(),
                        values: vec![None; steps],
                    });
                    result.insert(labels, out.len() - 1);
                    out.len() - 1
                }
            };
            if out[k].values[step].is_some() {
                return Err(PromqlError::Execution(if one_to_one {
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".to_owned()
                } else {
                    format!(
                        "multiple matches for labels: grouping labels must ensure unique matches, duplicate labels {}",
                        render(&out[k].labels)
                    )
                }));
            }
            out[k].values[step] = Some(value);
        }
    }
    Ok(out)
}

fn result_labels(
    many: &Labels,
    one: &Labels,
    op: &str,
    return_bool: bool,
    matching: Option<&LabelModifier>,
    include: Option<&promql_parser::label::Labels>,
) -> Labels {
    let mut pairs = many.0.clone();
    if !is_comparison(op) || return_bool {
        pairs.retain(|(n, _)| n != "__name__");
    }
    if include.is_none() {
        match matching {
            Some(LabelModifier::Include(on)) => {
                pairs.retain(|(n, _)| on.labels.iter().any(|k| k == n))
            }
            Some(LabelModifier::Exclude(ignoring)) => {
                pairs.retain(|(n, _)| !ignoring.labels.iter().any(|k| k == n))
            }
            None => {}
        }
    }
    if let Some(include) = include {
        for name in &include.labels {
            pairs.retain(|(n, _)| n != name);
            if let Some(v) = one.get(name) {
                pairs.push((name.clone(), v.to_owned()));
            }
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Labels(pairs)
}

/// Merges series with equal labels (after labels were dropped or rewritten); two values at
/// the same step are an error, as in Prometheus.
pub(crate) fn merge_same_labels(series: Vec<StepSeries>) -> Result<Vec<StepSeries>, PromqlError> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<StepSeries> = Vec::with_capacity(series.len());
    for s in series {
        match index.get(&s.labels) {
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
            Some(&k) => {
                for (slot, v) in out[k].values.iter_mut().zip(s.values) {
                    if v.is_some() {
                        if slot.is_some() {
                            return Err(PromqlError::Execution(
                                "vector cannot contain metrics with the same labelset".into(),
                            ));
                        }
                        *slot = v;
                    }
                }
            }
        }
    }
    Ok(out)
}
