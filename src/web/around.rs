//! Middleware as work done before and after the inner service, with no per-request boxing.
//!
//! `axum::middleware::from_fn` clones the whole stack below it, boxes it for `Next` and
//! boxes the future on every request; with five of them that was a tenth of a cheap
//! request's time (BENCHMARKS.md). A middleware here looks at the request, then calls the
//! inner service at once and wraps its future, as tower-http's own layers do.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};

/// What a middleware does around the inner service.
pub trait Around: Clone + Send + Sync + 'static {
    /// What `before` hands to `after`.
    type Kept: Send + 'static;
    /// Looks at (and may change) the request; `Err` answers it without the inner service.
    #[expect(
        clippy::result_large_err,
        reason = "an early answer is a response by value, as every handler returns one"
    )]
    fn before(&self, request: &mut Request) -> Result<Self::Kept, Response>;
    /// Finishes the inner service's response.
    fn after(kept: Self::Kept, response: Response) -> Response;
}

/// The layer that puts `A` around a service.
#[derive(Clone)]
pub struct AroundLayer<A>(pub A);

impl<A: Clone, S> tower::Layer<S> for AroundLayer<A> {
    type Service = AroundService<A, S>;

    fn layer(&self, inner: S) -> Self::Service {
        AroundService {
            around: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct AroundService<A, S> {
    around: A,
    inner: S,
}

impl<A, S> tower::Service<Request> for AroundService<A, S>
where
    A: Around,
    S: tower::Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AroundFuture<A, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match self.around.before(&mut request) {
            Ok(kept) => AroundFuture::Inner {
                future: self.inner.call(request),
                kept: Some(kept),
            },
            Err(response) => AroundFuture::Early {
                response: Some(response),
            },
        }
    }
}

pin_project_lite::pin_project! {
    #[project = Projected]
    pub enum AroundFuture<A: Around, F> {
        Inner { #[pin] future: F, kept: Option<A::Kept> },
        Early { response: Option<Response> },
    }
}

impl<A, F, R> Future for AroundFuture<A, F>
where
    A: Around,
    F: Future<Output = Result<R, Infallible>>,
    R: IntoResponse,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        const DONE: &str = "a middleware future polled after it completed";
        Poll::Ready(Ok(match self.project() {
            Projected::Inner { future, kept } => {
                let Ok(response) = ready!(future.poll(cx));
                A::after(kept.take().expect(DONE), response.into_response())
            }
            Projected::Early { response } => response.take().expect(DONE),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use tower::ServiceExt;

    /// Refuses requests without `x-ok`, and counts in a header what `before` saw.
    #[derive(Clone)]
    struct Gate;

    impl Around for Gate {
        type Kept = usize;
        fn before(&self, request: &mut Request) -> Result<usize, Response> {
            if !request.headers().contains_key("x-ok") {
                return Err(StatusCode::FORBIDDEN.into_response());
            }
            Ok(request.headers().len())
        }
        fn after(kept: usize, mut response: Response) -> Response {
            response
                .headers_mut()
                .insert("x-seen", axum::http::HeaderValue::from(kept));
            response
        }
    }

    fn app() -> AroundService<Gate, axum::Router> {
        use tower::Layer;
        AroundLayer(Gate)
            .layer(axum::Router::new().route("/", axum::routing::get(|| async { "hi" })))
    }

    #[tokio::test]
    async fn after_sees_the_inner_answer_and_before_can_answer_early() {
        let ok = Request::get("/")
            .header("x-ok", "1")
            .header("x-two", "2")
            .body(Body::empty())
            .unwrap();
        let response = app().oneshot(ok).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-seen"], "2");

        let refused = Request::get("/").body(Body::empty()).unwrap();
        let response = app().oneshot(refused).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.headers().get("x-seen").is_none());
    }
}
