//! `/v1/xa`: atomic writes across the databases of `[databases]` (`POST`), and the operators'
//! view of transactions left prepared (`GET ?state=in_doubt`, `POST /{transaction}/commit` and
//! `/rollback`). Without `mysql` and `[databases]` every route answers 404 saying so.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use dq_core::error::shown;
use dq_core::json::kind;
use dq_core::mysql::{Executed, SqlValue};
use dq_core::xa::{Databases, Decision, Gtrid};
use dq_core::{Error, ErrorKind};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::exchanges::known_fields;
use crate::error::{ApiError, JsonObject, OptionalJsonObject};
use crate::{AppState, Coordinator};

/// Statements in one transaction at most.
const MAX_STATEMENTS: usize = 100;

const STATEMENT_FIELDS: [&str; 4] = ["database", "sql", "params", "expect_rows"];

/// One statement of a request, checked.
struct Statement {
    database: String,
    sql: String,
    params: Vec<SqlValue>,
    expect_rows: Option<u64>,
}

/// Runs the statements in order in one XA transaction and commits it: 200 with each
/// statement's result. A statement that fails or affects another number of rows than its
/// `expect_rows` rolls everything back: its error, with `"outcome": "rolled_back"` and the
/// statement's index.
pub async fn run(
    State(state): State<Arc<AppState>>,
    JsonObject(fields): JsonObject,
) -> Result<Json<Value>, ApiError> {
    known_fields(&fields, &["statements"])?;
    let statements = statements(&fields)?;
    let coordinator = coordinator(&state)?;
    for (n, statement) in statements.iter().enumerate() {
        check_database(coordinator.databases(), &statement.database)
            .map_err(|e| e.context(format!("statements[{n}].database")))?;
    }
    // A task of its own: a client that goes away does not stop a commit midway.
    tokio::spawn(async move { transaction(&coordinator, &statements).await })
        .await
        .map_err(|e| ApiError::from(Error::internal(format!("the XA transaction failed: {e}"))))?
        .map(Json)
}

async fn transaction(
    coordinator: &Coordinator,
    statements: &[Statement],
) -> Result<Value, ApiError> {
    let mut xa = coordinator.begin();
    let id = xa.id().to_string();
    let mut results = Vec::with_capacity(statements.len());
    for (n, statement) in statements.iter().enumerate() {
        let done = xa
            .execute(&statement.database, &statement.sql, &statement.params)
            .await
            .and_then(|done| expected(statement, done));
        match done {
            Ok(done) => results.push(result(&done)),
            Err(e) => {
                // Refused input or a failed statement: whatever is left of it is rolled back.
                let _ = xa.rollback().await;
                tracing::debug!(xa = %id, statement = n, error = %e, "XA transaction rolled back");
                return Err(ApiError::from(e.context(format!("statements[{n}]")))
                    .with("id", id)
                    .with("outcome", "rolled_back")
                    .with("statement", n));
            }
        }
    }
    match xa.commit().await {
        Ok(committed) => {
            tracing::debug!(xa = %id, statements = statements.len(), pending = committed.pending.len(), "XA transaction committed");
            let mut body = json!({"id": id, "outcome": "committed", "results": results});
            if !committed.pending.is_empty() {
                body["pending"] = json!(committed.pending);
            }
            Ok(body)
        }
        Err(e) if xa.is_in_doubt() => {
            tracing::warn!(xa = %id, error = %e, "XA transaction in doubt: left to recovery");
            Err(ApiError::from(e).with("id", id).with("outcome", "in_doubt"))
        }
        Err(e) => Err(ApiError::from(e)
            .with("id", id)
            .with("outcome", "rolled_back")),
    }
}

/// `done`, unless the statement expected another number of affected rows (for a statement
/// that returned rows: how many).
fn expected(statement: &Statement, done: Executed) -> dq_core::Result<Executed> {
    match statement.expect_rows {
        Some(expected) if expected != done.affected_rows => {
            let verb = if done.rows.is_some() {
                "returned"
            } else {
                "affected"
            };
            Err(Error::new(
                ErrorKind::Transaction,
                format!(
                    "the statement {verb} {} row(s), not the {expected} of expect_rows",
                    done.affected_rows
                ),
            ))
        }
        _ => Ok(done),
    }
}

/// `{"affected_rows", "rows"?, "last_insert_id"?}`.
fn result(done: &Executed) -> Value {
    let mut result = Map::new();
    result.insert("affected_rows".into(), json!(done.affected_rows));
    if let Some(rows) = &done.rows {
        result.insert("rows".into(), rows.to_json());
    }
    if let Some(id) = done.last_insert_id.filter(|id| *id != 0) {
        result.insert("last_insert_id".into(), json!(id));
    }
    Value::Object(result)
}

/// The request's `statements`, each checked, before anything runs.
fn statements(fields: &Map<String, Value>) -> Result<Vec<Statement>, ApiError> {
    let list = match fields.get("statements") {
        Some(Value::Array(list)) => list,
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "statements is missing: send {\"statements\": [{\"database\": ..., \"sql\": ..., \"params\": [...]}]}",
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "statements is {}: expected a list of statements",
                kind(other)
            )));
        }
    };
    if list.is_empty() || list.len() > MAX_STATEMENTS {
        return Err(ApiError::invalid(format!(
            "statements has {} entries: expected 1 to {MAX_STATEMENTS}",
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(n, value)| statement(&format!("statements[{n}]"), value))
        .collect()
}

/// One statement; `at` names it in errors (`statements[2]`).
fn statement(at: &str, value: &Value) -> Result<Statement, ApiError> {
    let Value::Object(fields) = value else {
        return Err(ApiError::invalid(format!(
            "{at} is {}: expected an object with database, sql, params, expect_rows",
            kind(value)
        )));
    };
    known_fields(fields, &STATEMENT_FIELDS).map_err(|e| e.context(at))?;
    let text = |name: &str| match fields.get(name) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        Some(Value::String(_)) => Err(ApiError::invalid(format!("{at}.{name} is empty"))),
        None | Some(Value::Null) => Err(ApiError::invalid(format!("{at}.{name} is missing"))),
        Some(other) => Err(ApiError::invalid(format!(
            "{at}.{name} is {}: expected a string",
            kind(other)
        ))),
    };
    let params = match fields.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(params)) => params
            .iter()
            .enumerate()
            .map(|(n, value)| param(&format!("{at}.params[{n}]"), value))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "{at}.params is {}: expected a list of values for the ? placeholders",
                kind(other)
            )));
        }
    };
    let expect_rows = match fields.get("expect_rows") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_u64().ok_or_else(|| {
            ApiError::invalid(format!(
                "{at}.expect_rows {value} is invalid: expected a whole number from 0"
            ))
        })?),
    };
    Ok(Statement {
        database: text("database")?,
        sql: text("sql")?,
        params,
        expect_rows,
    })
}

/// A parameter: null, a boolean (as 0 or 1), a number or a string; `at` names it in errors.
fn param(at: &str, value: &Value) -> Result<SqlValue, ApiError> {
    Ok(match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Int(i64::from(*b)),
        Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(n), _, _) => SqlValue::Int(n),
            // Above i64: as its digits, which MySQL reads as the number.
            (None, Some(n), _) => SqlValue::Text(n.to_string()),
            (None, None, Some(f)) => SqlValue::Float(f),
            (None, None, None) => SqlValue::Text(number.to_string()),
        },
        Value::String(text) => SqlValue::Text(text.clone()),
        Value::Array(_) | Value::Object(_) => {
            return Err(ApiError::invalid(format!(
                "{at} is {}: a parameter is null, a boolean, a number or a string",
                kind(value)
            )));
        }
    })
}

/// A database the request names: one of `[databases]`, never a URL (which is not echoed: it
/// may carry a password).
fn check_database(databases: &Databases, name: &str) -> Result<(), ApiError> {
    if name.contains("://") {
        let known: Vec<String> = databases.names().map(shown).collect();
        return Err(ApiError::invalid(format!(
            "a URL is refused: name one of the gateway's [databases]: {}",
            known.join(", ")
        )));
    }
    databases.url(name)?;
    Ok(())
}

fn coordinator(state: &AppState) -> Result<Arc<Coordinator>, ApiError> {
    state.xa.clone().ok_or_else(|| {
        ApiError::not_found(
            "XA is not configured on this gateway: set mysql (dq's database, which logs the decisions) and [databases] (the databases a transaction may use)",
        )
    })
}

#[derive(Deserialize)]
pub struct Listing {
    state: Option<String>,
}

/// Transactions with prepared branches now (`?state=in_doubt`, the default), each with its
/// logged decision, if any.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(listing): Query<Listing>,
) -> Result<Json<Value>, ApiError> {
    if let Some(other) = listing.state.as_deref().filter(|s| *s != "in_doubt") {
        return Err(ApiError::invalid(format!(
            "state {} is invalid: expected in_doubt",
            shown(other)
        )));
    }
    let transactions: Vec<Value> = coordinator(&state)?
        .in_doubt()
        .await?
        .into_iter()
        .map(|t| {
            let branches: Vec<Value> = t
                .branches
                .iter()
                .map(|(database, server)| json!({"database": database, "server": server}))
                .collect();
            json!({
                "id": t.id.as_str(),
                "branches": branches,
                "decision": t.decision.map(Decision::as_str),
                "age": t.age.as_secs_f64(),
            })
        })
        .collect();
    Ok(Json(json!({ "transactions": transactions })))
}

/// An operator commits a transaction in doubt.
pub async fn commit(
    State(state): State<Arc<AppState>>,
    Path(transaction): Path<String>,
    OptionalJsonObject(fields): OptionalJsonObject,
) -> Result<Json<Value>, ApiError> {
    resolve(&state, &transaction, &fields, Decision::Commit).await
}

/// An operator rolls back a transaction in doubt.
pub async fn rollback(
    State(state): State<Arc<AppState>>,
    Path(transaction): Path<String>,
    OptionalJsonObject(fields): OptionalJsonObject,
) -> Result<Json<Value>, ApiError> {
    resolve(&state, &transaction, &fields, Decision::Rollback).await
}

/// Logs `decision` unless one is logged, and applies the logged one to every prepared branch
/// of the transaction: 200 with each branch's action, 409 when the log says otherwise.
async fn resolve(
    state: &AppState,
    transaction: &str,
    fields: &Map<String, Value>,
    decision: Decision,
) -> Result<Json<Value>, ApiError> {
    known_fields(fields, &[])?;
    let id = Gtrid::parse(transaction).ok_or_else(|| {
        ApiError::invalid(format!(
            "{} is not a dq XA transaction id: expected dq and 36 hex digits, as GET /v1/xa?state=in_doubt lists them",
            shown(transaction)
        ))
    })?;
    let resolved = coordinator(state)?.resolve(&id, decision).await?;
    tracing::info!(xa = %id, decision = decision.as_str(), branches = resolved.len(), "XA transaction resolved by an operator");
    let branches: Vec<Value> = resolved
        .iter()
        .map(|r| {
            let mut branch =
                json!({"database": r.branch, "server": r.server, "action": r.action.as_str()});
            if let Some(error) = &r.error {
                branch["error"] = json!(error);
            }
            branch
        })
        .collect();
    Ok(Json(json!({
        "id": id.as_str(),
        "decision": decision.as_str(),
        "branches": branches,
    })))
}
