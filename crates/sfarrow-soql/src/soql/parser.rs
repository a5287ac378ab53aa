//! Recursive-descent SOQL parser: clauses and the SELECT list here, conditions and literals in
//! `parser/condition.rs`.

mod condition;

use super::ast::{FieldPath, OrderItem, Query, SelectItem};
use super::error::SoqlError;
use super::lexer::{tokenize, Token, TokenKind};

/// Deep enough for any real query, shallow enough that recursion cannot overflow the stack.
const MAX_DEPTH: usize = 100;

const AGGREGATES: [&str; 6] = ["COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"];

/// Salesforce's reserved words, which cannot name a field, object or alias. `GROUP` is reserved
/// too, but `Group` is also a standard object (and a relationship on `GroupMember`), so it is
/// accepted as a name and recognised as a keyword only where a keyword is expected.
const RESERVED: [&str; 19] = [
    "AND", "ASC", "DESC", "EXCLUDES", "FIRST", "FROM", "HAVING", "IN", "INCLUDES", "LAST", "LIKE",
    "LIMIT", "NOT", "NULL", "NULLS", "OR", "SELECT", "WHERE", "WITH",
];

/// Unreserved words that can start the clause after FROM, so they are never taken for an alias.
const CLAUSE_KEYWORDS: [&str; 6] = ["GROUP", "ORDER", "OFFSET", "FOR", "USING", "UPDATE"];

/// Words that end a `WITH ...` clause, whose body is kept as text.
const AFTER_WITH: [&str; 7] = [
    "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "FOR", "UPDATE",
];

fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| word.eq_ignore_ascii_case(r))
}

pub(crate) fn parse_query(src: &str) -> Result<Query, SoqlError> {
    let mut parser = Parser::new(src)?;
    let query = parser.query()?;
    parser.end()?;
    Ok(query)
}

/// One condition on its own (what follows WHERE), and nothing after it.
pub(crate) fn parse_condition(src: &str) -> Result<super::ast::Condition, SoqlError> {
    let mut parser = Parser::new(src)?;
    let condition = parser.condition()?;
    parser.end()?;
    Ok(condition)
}

pub(super) struct Parser<'a> {
    src: &'a str,
    /// Never empty: the lexer always ends the list with `Eof`.
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Parser<'a>, SoqlError> {
        Ok(Parser {
            src,
            tokens: tokenize(src)?,
            pos: 0,
            depth: 0,
        })
    }

    /// Nothing may follow what was parsed.
    fn end(&self) -> Result<(), SoqlError> {
        if self.peek().kind == TokenKind::Eof {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[(self.pos + ahead).min(last)]
    }

    /// Returns the current token and moves past it; stays on `Eof`.
    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::Eof {
            self.pos += 1;
        }
        token
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        self.peek().is_keyword(keyword)
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.at_keyword(keyword);
        if found {
            self.advance();
        }
        found
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<Token, SoqlError> {
        if self.at_keyword(keyword) {
            Ok(self.advance())
        } else {
            Err(self.unexpected())
        }
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        let found = &self.peek().kind == kind;
        if found {
            self.advance();
        }
        found
    }

    fn expect(&mut self, kind: &TokenKind) -> Result<Token, SoqlError> {
        if &self.peek().kind == kind {
            Ok(self.advance())
        } else {
            Err(self.unexpected())
        }
    }

    /// The current token as a field, object or alias name, if it can be one.
    fn peek_name(&self) -> Option<&str> {
        match &self.peek().kind {
            TokenKind::Ident(name) if !is_reserved(name) => Some(name),
            _ => None,
        }
    }

    fn name(&mut self) -> Result<String, SoqlError> {
        match self.peek_name() {
            Some(name) => {
                let name = name.to_string();
                self.advance();
                Ok(name)
            }
            None => Err(self.unexpected()),
        }
    }

    fn ident(&mut self) -> Result<String, SoqlError> {
        match &self.peek().kind {
            TokenKind::Ident(name) => {
                let name = name.clone();
                self.advance();
                Ok(name)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn text(&self, token: &Token) -> &str {
        self.src.get(token.start..token.end).unwrap_or("")
    }

    pub(super) fn unexpected(&self) -> SoqlError {
        let token = self.peek();
        let message = match token.kind {
            TokenKind::Eof => "unexpected token: <EOF>".to_string(),
            _ => format!("unexpected token: '{}'", self.text(token)),
        };
        SoqlError::malformed(message, token.row, token.column)
    }

    /// Bounds recursion; every `enter` is paired with a `leave` on the success path, and an
    /// error abandons the whole parse, so the count need not be restored on failure.
    fn enter(&mut self) -> Result<(), SoqlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let token = self.peek();
            return Err(SoqlError::malformed(
                "query is nested too deeply",
                token.row,
                token.column,
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    pub(super) fn query(&mut self) -> Result<Query, SoqlError> {
        self.enter()?;
        self.expect_keyword("SELECT")?;
        let select = self.select_list()?;
        self.expect_keyword("FROM")?;
        let from = self.name()?;
        let alias = match self.peek_name() {
            Some(name) if !CLAUSE_KEYWORDS.iter().any(|k| name.eq_ignore_ascii_case(k)) => {
                Some(self.name()?)
            }
            _ => None,
        };
        let mut query = Query {
            alias,
            ..Query::new(select, from)
        };
        if self.eat_keyword("WHERE") {
            query.where_clause = Some(self.condition()?);
        }
        if self.eat_keyword("WITH") {
            query.with = Some(self.with_body()?);
        }
        if self.at_keyword("GROUP") && self.peek_at(1).is_keyword("BY") {
            self.pos += 2;
            query.group_by = self.comma_list(Self::operand)?;
        }
        if self.eat_keyword("HAVING") {
            query.having = Some(self.condition()?);
        }
        if self.at_keyword("ORDER") && self.peek_at(1).is_keyword("BY") {
            self.pos += 2;
            query.order_by = self.comma_list(Self::order_item)?;
        }
        if self.eat_keyword("LIMIT") {
            query.limit = Some(self.unsigned()?);
        }
        if self.eat_keyword("OFFSET") {
            query.offset = Some(self.unsigned()?);
        }
        if self.eat_keyword("FOR") {
            let kind = ["VIEW", "REFERENCE", "UPDATE"]
                .into_iter()
                .find(|k| self.at_keyword(k))
                .ok_or_else(|| self.unexpected())?;
            self.advance();
            query.for_clause = Some(kind.to_string());
        }
        self.leave();
        Ok(query)
    }

    fn comma_list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, SoqlError>,
    ) -> Result<Vec<T>, SoqlError> {
        let mut items = vec![item(self)?];
        while self.eat(&TokenKind::Comma) {
            items.push(item(self)?);
        }
        Ok(items)
    }

    fn select_list(&mut self) -> Result<Vec<SelectItem>, SoqlError> {
        self.comma_list(Self::select_item)
    }

    fn select_item(&mut self) -> Result<SelectItem, SoqlError> {
        if self.eat(&TokenKind::LParen) {
            if !self.at_keyword("SELECT") {
                return Err(self.unexpected());
            }
            let query = self.query()?;
            self.expect(&TokenKind::RParen)?;
            return Ok(SelectItem::Subquery(Box::new(query)));
        }
        let next = &self.peek_at(1).kind;
        if self.at_keyword("TYPEOF") && matches!(next, TokenKind::Ident(w) if !is_reserved(w)) {
            return self.type_of();
        }
        if *next != TokenKind::LParen {
            return Ok(SelectItem::Field(self.path()?));
        }
        let name = self.name()?;
        self.advance();
        let upper = name.to_ascii_uppercase();
        let item = if upper == "FIELDS" {
            let kind = self.ident()?.to_ascii_uppercase();
            if !["ALL", "STANDARD", "CUSTOM"].contains(&kind.as_str()) {
                self.pos -= 1;
                return Err(self.unexpected());
            }
            self.expect(&TokenKind::RParen)?;
            return Ok(SelectItem::Fields(kind));
        } else if AGGREGATES.contains(&upper.as_str()) {
            let argument = if upper == "COUNT" && self.peek().kind == TokenKind::RParen {
                None
            } else {
                Some(self.path()?)
            };
            self.expect(&TokenKind::RParen)?;
            SelectItem::Aggregate {
                function: upper,
                argument,
                alias: self.select_alias()?,
            }
        } else {
            let argument = self.path()?;
            self.expect(&TokenKind::RParen)?;
            SelectItem::Function {
                function: name,
                argument,
                alias: self.select_alias()?,
            }
        };
        Ok(item)
    }

    fn select_alias(&mut self) -> Result<Option<String>, SoqlError> {
        match self.peek_name() {
            Some(_) => Ok(Some(self.name()?)),
            None => Ok(None),
        }
    }

    /// `TYPEOF ... END` is kept verbatim: its branches name fields of other objects, which only
    /// the server can resolve.
    fn type_of(&mut self) -> Result<SelectItem, SoqlError> {
        let start = self.advance().start;
        loop {
            match &self.peek().kind {
                TokenKind::Eof => return Err(self.unexpected()),
                TokenKind::Ident(word) if word.eq_ignore_ascii_case("END") => {
                    let end = self.advance().end;
                    let text = self.src.get(start..end).unwrap_or("");
                    return Ok(SelectItem::TypeOf(text.to_string()));
                }
                _ => {
                    self.advance();
                }
            }
        }
    }

    /// The body of `WITH ...` up to the next clause, as written.
    fn with_body(&mut self) -> Result<String, SoqlError> {
        let start = self.peek().start;
        let mut end = None;
        let mut nesting = 0usize;
        loop {
            let token = self.peek();
            let stop = match &token.kind {
                TokenKind::Eof => true,
                TokenKind::RParen => nesting == 0,
                TokenKind::Ident(word) => {
                    nesting == 0 && AFTER_WITH.iter().any(|k| word.eq_ignore_ascii_case(k))
                }
                _ => false,
            };
            if stop {
                break;
            }
            match token.kind {
                TokenKind::LParen => nesting += 1,
                TokenKind::RParen => nesting -= 1,
                _ => {}
            }
            end = Some(self.advance().end);
        }
        match end {
            Some(end) => Ok(self.src.get(start..end).unwrap_or("").to_string()),
            None => Err(self.unexpected()),
        }
    }

    pub(super) fn path(&mut self) -> Result<FieldPath, SoqlError> {
        let mut segments = vec![self.name()?];
        while self.eat(&TokenKind::Dot) {
            segments.push(self.name()?);
        }
        Ok(FieldPath(segments))
    }

    /// A field, or a function call stored as the one-segment path `NAME(arg)`
    /// (see `FieldPath::function_call`).
    pub(super) fn operand(&mut self) -> Result<FieldPath, SoqlError> {
        if self.peek_at(1).kind != TokenKind::LParen {
            return self.path();
        }
        let name = self.name()?;
        self.advance();
        let argument = if self.peek().kind == TokenKind::RParen {
            String::new()
        } else {
            self.path()?.to_string()
        };
        self.expect(&TokenKind::RParen)?;
        Ok(FieldPath(vec![format!("{name}({argument})")]))
    }

    fn order_item(&mut self) -> Result<OrderItem, SoqlError> {
        let field = self.operand()?;
        let descending = if self.eat_keyword("DESC") {
            true
        } else {
            self.eat_keyword("ASC");
            false
        };
        let nulls_first = if self.eat_keyword("NULLS") {
            if self.eat_keyword("FIRST") {
                Some(true)
            } else {
                self.expect_keyword("LAST")?;
                Some(false)
            }
        } else {
            None
        };
        Ok(OrderItem {
            field,
            descending,
            nulls_first,
        })
    }

    /// `LIMIT`, `OFFSET` and `LAST_N_DAYS:n` arguments: digits only.
    pub(super) fn unsigned<T: std::str::FromStr>(&mut self) -> Result<T, SoqlError> {
        let token = self.peek().clone();
        match &token.kind {
            TokenKind::Number(text) if text.bytes().all(|b| b.is_ascii_digit()) => {
                self.advance();
                text.parse().map_err(|_| {
                    SoqlError::invalid_literal(
                        format!("number out of range: {text}"),
                        token.row,
                        token.column,
                    )
                })
            }
            _ => Err(self.unexpected()),
        }
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
