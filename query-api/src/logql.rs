//! The LogQL subset Lookout answers (`../shared/reference/loki-api.md`): stream selectors,
//! chained line filters, `| json` and `| logfmt` then label filters, and the metric queries
//! `count_over_time`, `rate`, `bytes_over_time` under `sum`/`count`/`min`/`max`/`avg` with
//! `by`/`without`. Errors name the column and the problem, as Loki's do.

use std::fmt;

use regex::Regex;

/// A parse error at a 1-based column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parse error at line 1, col {}: {}",
            self.col, self.message
        )
    }
}

#[derive(Debug, Clone)]
pub enum Expr {
    Log(LogExpr),
    Metric(MetricExpr),
}

#[derive(Debug, Clone)]
pub struct LogExpr {
    pub matchers: Vec<Matcher>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    Nre,
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// Anchored, for `=~` and `!~`.
    pub regex: Option<Regex>,
}

impl Matcher {
    pub fn matches(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        match self.op {
            MatchOp::Eq => v == self.value,
            MatchOp::Ne => v != self.value,
            MatchOp::Re => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::Nre => !self.regex.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Stage {
    /// `|= "text"` (contains), `!= "text"`, `|~ "re"`, `!~ "re"`.
    Line {
        negate: bool,
        text: String,
        regex: Option<Regex>,
    },
    Json,
    Logfmt,
    Label(LabelFilter),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Re,
    Nre,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone)]
pub struct LabelFilter {
    pub name: String,
    pub cmp: Cmp,
    pub text: String,
    pub number: Option<f64>,
    pub regex: Option<Regex>,
}

impl LabelFilter {
    pub fn matches(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        match self.cmp {
            Cmp::Re => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            Cmp::Nre => !self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            cmp => match (self.number, v.trim().parse::<f64>()) {
                (Some(n), Ok(x)) => match cmp {
                    Cmp::Eq => x == n,
                    Cmp::Ne => x != n,
                    Cmp::Gt => x > n,
                    Cmp::Ge => x >= n,
                    Cmp::Lt => x < n,
                    _ => x <= n,
                },
                // A number compared with a value that is not one: false, as in Loki.
                (Some(_), Err(_)) => cmp == Cmp::Ne,
                (None, _) => match cmp {
                    Cmp::Eq => v == self.text,
                    Cmp::Ne => v != self.text,
                    _ => false,
                },
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFn {
    CountOverTime,
    Rate,
    BytesOverTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Count,
    Min,
    Max,
    Avg,
}

#[derive(Debug, Clone)]
pub enum MetricExpr {
    Range {
        func: RangeFn,
        log: LogExpr,
        range_ns: u64,
    },
    Aggregate {
        op: AggOp,
        labels: Vec<String>,
        without: bool,
        inner: Box<MetricExpr>,
    },
}

pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let mut p = Parser { s: input, pos: 0 };
    p.ws();
    let expr = if p.peek() == Some('{') {
        Expr::Log(p.log_expr()?)
    } else {
        Expr::Metric(p.metric()?)
    };
    p.ws();
    if p.pos < p.s.len() {
        return Err(p.error(format!("unexpected {:?}", p.rest_token())));
    }
    Ok(expr)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            col: self.s[..self.pos].chars().count() + 1,
            message: format!("syntax error: {}", message.into()),
        }
    }

    fn rest_token(&self) -> String {
        self.s[self.pos..].chars().take(12).collect()
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.ws();
        if self.s[self.pos..].starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), ParseError> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.error(format!("expected {token:?}, found {:?}", self.rest_token())))
        }
    }

    fn ident(&mut self) -> Result<String, ParseError> {
        self.ws();
        let start = self.pos;
        for (i, c) in self.s[self.pos..].char_indices() {
            let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.pos = start + i + c.len_utf8();
        }
        if self.pos == start {
            return Err(self.error(format!("expected a name, found {:?}", self.rest_token())));
        }
        Ok(self.s[start..self.pos].to_string())
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.ws();
        match self.peek() {
            Some('`') => {
                let start = self.pos + 1;
                match self.s[start..].find('`') {
                    Some(len) => {
                        self.pos = start + len + 1;
                        Ok(self.s[start..start + len].to_string())
                    }
                    None => Err(self.error("unterminated raw string")),
                }
            }
            Some('"') => {
                let mut out = String::new();
                let mut chars = self.s[self.pos + 1..].char_indices();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            self.pos += 1 + i + 1;
                            return Ok(out);
                        }
                        '\\' => match chars.next() {
                            Some((_, 'n')) => out.push('\n'),
                            Some((_, 't')) => out.push('\t'),
                            Some((_, c)) => out.push(c),
                            None => break,
                        },
                        c => out.push(c),
                    }
                }
                Err(self.error("unterminated string"))
            }
            _ => Err(self.error(format!("expected a string, found {:?}", self.rest_token()))),
        }
    }

    fn regex(&self, pattern: &str) -> Result<Regex, ParseError> {
        Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| self.error(format!("invalid regex {pattern:?}: {e}")))
    }

    fn log_expr(&mut self) -> Result<LogExpr, ParseError> {
        self.expect("{")?;
        let mut matchers = Vec::new();
        loop {
            if self.eat("}") {
                break;
            }
            if !matchers.is_empty() {
                self.expect(",")?;
            }
            let name = self.ident()?;
            let op = if self.eat("=~") {
                MatchOp::Re
            } else if self.eat("!~") {
                MatchOp::Nre
            } else if self.eat("!=") {
                MatchOp::Ne
            } else if self.eat("=") {
                MatchOp::Eq
            } else {
                return Err(self.error(format!(
                    "expected a matcher (=, !=, =~, !~), found {:?}",
                    self.rest_token()
                )));
            };
            let value = self.string()?;
            let regex = matches!(op, MatchOp::Re | MatchOp::Nre)
                .then(|| self.regex(&value))
                .transpose()?;
            matchers.push(Matcher {
                name,
                op,
                value,
                regex,
            });
        }
        if !matchers.iter().any(|m| {
            m.op == MatchOp::Eq && !m.value.is_empty()
                || m.op == MatchOp::Re && m.regex.as_ref().is_some_and(|r| !r.is_match(""))
        }) {
            return Err(ParseError {
                col: 1,
                message: "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will".into(),
            });
        }
        let mut stages = Vec::new();
        loop {
            self.ws();
            let line = if self.eat("|=") {
                Some((false, false))
            } else if self.eat("|~") {
                Some((false, true))
            } else if self.eat("!=") {
                Some((true, false))
            } else if self.eat("!~") {
                Some((true, true))
            } else {
                None
            };
            if let Some((negate, is_regex)) = line {
                let text = self.string()?;
                let regex = if is_regex {
                    Some(
                        Regex::new(&text)
                            .map_err(|e| self.error(format!("invalid regex {text:?}: {e}")))?,
                    )
                } else {
                    None
                };
                stages.push(Stage::Line {
                    negate,
                    text,
                    regex,
                });
                continue;
            }
            if !self.eat("|") {
                break;
            }
            let name = self.ident()?;
            match name.as_str() {
                "json" => stages.push(Stage::Json),
                "logfmt" => stages.push(Stage::Logfmt),
                _ => {
                    let cmp = [
                        ("=~", Cmp::Re),
                        ("!~", Cmp::Nre),
                        ("==", Cmp::Eq),
                        ("!=", Cmp::Ne),
                        (">=", Cmp::Ge),
                        ("<=", Cmp::Le),
                        (">", Cmp::Gt),
                        ("<", Cmp::Lt),
                        ("=", Cmp::Eq),
                    ]
                    .into_iter()
                    .find(|(t, _)| self.eat(t))
                    .map(|(_, c)| c)
                    .ok_or_else(|| {
                        self.error(format!(
                            "expected json, logfmt or a label filter after |, found {name:?} {:?}",
                            self.rest_token()
                        ))
                    })?;
                    self.ws();
                    let (text, number) = if matches!(self.peek(), Some('"' | '`')) {
                        (self.string()?, None)
                    } else {
                        let start = self.pos;
                        while self
                            .peek()
                            .is_some_and(|c| c.is_ascii_alphanumeric() || ".-+_".contains(c))
                        {
                            self.pos += 1;
                        }
                        let raw = &self.s[start..self.pos];
                        let n = parse_number(raw).ok_or_else(|| {
                            self.error(format!("expected a string or a number, found {raw:?}"))
                        })?;
                        (raw.to_string(), Some(n))
                    };
                    if number.is_none() && matches!(cmp, Cmp::Gt | Cmp::Ge | Cmp::Lt | Cmp::Le) {
                        return Err(self.error(format!(
                            "label filter {name} compares a string with an ordering operator"
                        )));
                    }
                    let regex = matches!(cmp, Cmp::Re | Cmp::Nre)
                        .then(|| self.regex(&text))
                        .transpose()?;
                    stages.push(Stage::Label(LabelFilter {
                        name,
                        cmp,
                        text,
                        number,
                        regex,
                    }));
                }
            }
        }
        Ok(LogExpr { matchers, stages })
    }

    fn labels(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect("(")?;
        let mut out = Vec::new();
        loop {
            if self.eat(")") {
                return Ok(out);
            }
            if !out.is_empty() {
                self.expect(",")?;
            }
            out.push(self.ident()?);
        }
    }

    fn grouping(&mut self) -> Result<Option<(bool, Vec<String>)>, ParseError> {
        let save = self.pos;
        self.ws();
        match self.ident() {
            Ok(word) if word == "by" => Ok(Some((false, self.labels()?))),
            Ok(word) if word == "without" => Ok(Some((true, self.labels()?))),
            _ => {
                self.pos = save;
                Ok(None)
            }
        }
    }

    fn metric(&mut self) -> Result<MetricExpr, ParseError> {
        self.ws();
        let name = self.ident()?;
        let agg = match name.as_str() {
            "sum" => Some(AggOp::Sum),
            "count" => Some(AggOp::Count),
            "min" => Some(AggOp::Min),
            "max" => Some(AggOp::Max),
            "avg" => Some(AggOp::Avg),
            _ => None,
        };
        if let Some(op) = agg {
            let before = self.grouping()?;
            self.expect("(")?;
            let inner = self.metric()?;
            self.expect(")")?;
            let after = self.grouping()?;
            let (without, labels) = before.or(after).unwrap_or_default();
            return Ok(MetricExpr::Aggregate {
                op,
                labels,
                without,
                inner: Box::new(inner),
            });
        }
        let func = match name.as_str() {
            "count_over_time" => RangeFn::CountOverTime,
            "rate" => RangeFn::Rate,
            "bytes_over_time" => RangeFn::BytesOverTime,
            other => {
                return Err(self.error(format!(
                    "unsupported function {other:?} (supported: count_over_time, rate, bytes_over_time, sum, count, min, max, avg)"
                )))
            }
        };
        self.expect("(")?;
        self.ws();
        let log = self.log_expr()?;
        self.expect("[")?;
        self.ws();
        let start = self.pos;
        while self.peek().is_some_and(|c| c != ']') {
            self.pos += self.peek().map_or(1, char::len_utf8);
        }
        let text = self.s[start..self.pos].trim().to_string();
        let range_ns = crate::traces::params::go_duration("range", &text)
            .map_err(|_| self.error(format!("invalid range {text:?}")))?;
        if range_ns == 0 {
            return Err(self.error("the range must be greater than 0"));
        }
        self.expect("]")?;
        self.expect(")")?;
        Ok(MetricExpr::Range {
            func,
            log,
            range_ns,
        })
    }
}

fn parse_number(raw: &str) -> Option<f64> {
    if let Ok(n) = raw.parse::<f64>() {
        return Some(n);
    }
    // Durations and byte sizes compare as numbers (seconds, bytes).
    crate::traces::params::go_duration("n", raw)
        .ok()
        .map(|ns| ns as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_subset() {
        let Expr::Log(log) = parse(
            r#"{service_name="api", level!="debug", host=~"web-.*"} |= "timeout" != "retry" |~ `id=\d+` | json | status >= 500 | method="GET""#,
        )
        .unwrap() else {
            panic!("not a log query")
        };
        assert_eq!(log.matchers.len(), 3);
        assert!(log.matchers[2].matches(Some("web-1")) && !log.matchers[2].matches(Some("db-1")));
        assert_eq!(log.stages.len(), 6);
        let Stage::Label(status) = &log.stages[4] else {
            panic!()
        };
        assert!(status.matches(Some("503")) && !status.matches(Some("404")));

        let Expr::Metric(m) =
            parse(r#"sum by (level) (rate({service_name="api"} |= "x" [5m]))"#).unwrap()
        else {
            panic!()
        };
        let MetricExpr::Aggregate { labels, inner, .. } = m else {
            panic!()
        };
        assert_eq!(labels, ["level"]);
        assert!(matches!(
            *inner,
            MetricExpr::Range {
                func: RangeFn::Rate,
                range_ns: 300_000_000_000,
                ..
            }
        ));
        assert!(parse(r#"sum(count_over_time({a="b"}[1m])) by (c)"#).is_ok());
    }

    #[test]
    fn errors_name_the_column() {
        for (query, col, needle) in [
            (r#"{service_name="api""#, 20, "expected \",\""),
            (r#"{service_name=api}"#, 15, "expected a string"),
            (
                r#"{service_name="api"} |= timeout"#,
                25,
                "expected a string",
            ),
            (r#"{a="b"} | status >= "x""#, 24, "ordering"),
            (r#"rate({a="b"})"#, 13, "expected \"[\""),
            (r#"histogram({a="b"})"#, 10, "unsupported function"),
            (r#"{a=~"("}"#, 8, "invalid regex"),
        ] {
            let err = parse(query).unwrap_err();
            assert!(err.message.contains(needle), "{query}: {err}");
            assert_eq!(err.col, col, "{query}: {err}");
        }
        assert!(parse(r#"{a=""}"#)
            .unwrap_err()
            .message
            .contains("at least one"));
    }
}
