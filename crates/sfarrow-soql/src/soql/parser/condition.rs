//! WHERE / HAVING conditions and literals. NOT binds tighter than AND and OR; AND and OR cannot
//! be mixed at one level without parentheses (`A AND B OR C` is `unexpected token: 'OR'`), as
//! Salesforce rejects them: an org would not run the query, so neither does the emulator.

use super::Parser;
use crate::soql::ast::{CompareOp, Condition, Literal};
use crate::soql::date_literal::DateLiteral;
use crate::soql::error::SoqlError;
use crate::soql::lexer::TokenKind;

impl Parser<'_> {
    pub(super) fn condition(&mut self) -> Result<Condition, SoqlError> {
        self.enter()?;
        let mut terms = vec![self.not_condition()?];
        let joiner = if self.at_keyword("AND") { "AND" } else { "OR" };
        while self.eat_keyword(joiner) {
            terms.push(self.not_condition()?);
        }
        let other = if joiner == "AND" { "OR" } else { "AND" };
        if self.at_keyword(other) {
            return Err(self.unexpected());
        }
        self.leave();
        Ok(flatten(
            terms,
            if joiner == "AND" {
                Condition::And
            } else {
                Condition::Or
            },
        ))
    }

    fn not_condition(&mut self) -> Result<Condition, SoqlError> {
        if !self.eat_keyword("NOT") {
            return self.primary_condition();
        }
        self.enter()?;
        let inner = self.not_condition()?;
        self.leave();
        Ok(Condition::Not(Box::new(inner)))
    }

    fn primary_condition(&mut self) -> Result<Condition, SoqlError> {
        if self.eat(&TokenKind::LParen) {
            let inner = self.condition()?;
            self.expect(&TokenKind::RParen)?;
            return Ok(inner);
        }
        let field = self.operand()?;
        let op = match self.peek().kind {
            TokenKind::Eq => Some(CompareOp::Eq),
            TokenKind::Ne => Some(CompareOp::Ne),
            TokenKind::Lt => Some(CompareOp::Lt),
            TokenKind::Le => Some(CompareOp::Le),
            TokenKind::Gt => Some(CompareOp::Gt),
            TokenKind::Ge => Some(CompareOp::Ge),
            _ if self.at_keyword("LIKE") => Some(CompareOp::Like),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            let value = self.literal()?;
            return Ok(Condition::Compare { field, op, value });
        }
        let negated = self.at_keyword("NOT") && self.peek_at(1).is_keyword("IN");
        if negated {
            self.advance();
        }
        if self.eat_keyword("IN") {
            self.expect(&TokenKind::LParen)?;
            if self.at_keyword("SELECT") {
                let query = Box::new(self.query()?);
                self.expect(&TokenKind::RParen)?;
                return Ok(Condition::InQuery {
                    field,
                    negated,
                    query,
                });
            }
            let values = self.comma_list(Self::literal)?;
            self.expect(&TokenKind::RParen)?;
            return Ok(Condition::In {
                field,
                negated,
                values,
            });
        }
        let negated = self.at_keyword("EXCLUDES");
        if negated || self.at_keyword("INCLUDES") {
            self.advance();
            self.expect(&TokenKind::LParen)?;
            let values = self.comma_list(Self::string)?;
            self.expect(&TokenKind::RParen)?;
            return Ok(Condition::Includes {
                field,
                negated,
                values,
            });
        }
        Err(self.unexpected())
    }

    fn string(&mut self) -> Result<String, SoqlError> {
        match &self.peek().kind {
            TokenKind::Str(value) => {
                let value = value.clone();
                self.advance();
                Ok(value)
            }
            _ => Err(self.unexpected()),
        }
    }

    pub(super) fn literal(&mut self) -> Result<Literal, SoqlError> {
        let token = self.peek().clone();
        let literal = match &token.kind {
            TokenKind::Str(value) => Literal::String(value.clone()),
            TokenKind::Number(text) => Literal::Number(text.clone()),
            TokenKind::Date(date) => Literal::Date(*date),
            TokenKind::DateTime(millis) => Literal::DateTime {
                millis: *millis,
                text: self.text(&token).to_string(),
            },
            TokenKind::Ident(word) => {
                let upper = word.to_ascii_uppercase();
                match upper.as_str() {
                    "NULL" => Literal::Null,
                    "TRUE" => Literal::Bool(true),
                    "FALSE" => Literal::Bool(false),
                    _ => {
                        if let Some(date) = DateLiteral::plain(&upper) {
                            Literal::DateKeyword(date)
                        } else if let Some(make) = DateLiteral::with_n(&upper) {
                            self.advance();
                            let n = self.date_keyword_n()?;
                            return Ok(Literal::DateKeyword(make(n)));
                        } else {
                            return Err(self.unexpected());
                        }
                    }
                }
            }
            _ => return Err(self.unexpected()),
        };
        self.advance();
        Ok(literal)
    }

    /// The `:n` of `LAST_N_DAYS:n`: a non-negative integer that fits in 32 bits.
    fn date_keyword_n(&mut self) -> Result<u32, SoqlError> {
        self.expect(&TokenKind::Colon)?;
        self.unsigned()
    }
}

fn flatten(mut terms: Vec<Condition>, wrap: fn(Vec<Condition>) -> Condition) -> Condition {
    if terms.len() == 1 {
        if let Some(only) = terms.pop() {
            return only;
        }
    }
    wrap(terms)
}
