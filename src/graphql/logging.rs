//! Names the operation in the request's log span: every log line of a request (and the line
//! that reports its duration) carries `operation`, the operation's name (`-` for an anonymous
//! one). The span itself is opened by the HTTP layer, with the request id and the account.
use std::sync::Arc;

use async_graphql::{
    Response, ServerResult, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery},
    parser::types::{DocumentOperations, ExecutableDocument},
};

pub struct OperationName;

impl ExtensionFactory for OperationName {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationNameExtension)
    }
}

struct OperationNameExtension;

#[async_trait::async_trait]
impl Extension for OperationNameExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        // The document's only operation (a subscription is named here: it has no execute).
        let name = match &doc.operations {
            DocumentOperations::Single(_) => Some("-".to_owned()),
            DocumentOperations::Multiple(ops) if ops.len() == 1 => ops.keys().next().map(|n| n.to_string()),
            DocumentOperations::Multiple(_) => None,
        };
        if let Some(name) = name {
            tracing::Span::current().record("operation", name.as_str());
        }
        Ok(doc)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        tracing::Span::current().record("operation", operation_name.unwrap_or("-"));
        next.run(ctx, operation_name).await
    }
}
