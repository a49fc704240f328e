//! Small macros the middleware modules share.

/// `get_ref`, `get_mut` and `into_inner` on a middleware service whose wrapped service is the
/// field `inner` and the first type parameter (tower-http's habit).
macro_rules! inner_service_accessors {
    ($service:ident < $inner:ident $(, $param:ident)* >) => {
        impl<$inner $(, $param)*> $service<$inner $(, $param)*> {
            /// The inner service.
            pub fn get_ref(&self) -> &$inner {
                &self.inner
            }

            /// The inner service, mutably.
            pub fn get_mut(&mut self) -> &mut $inner {
                &mut self.inner
            }

            /// Consumes the middleware, returning the inner service.
            pub fn into_inner(self) -> $inner {
                self.inner
            }
        }
    };
}
