//! The seam between verification and wherever keys come from.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::jose::header::TokenHeader;
use crate::keys::{KeyError, KeySet};
use crate::readiness::Readiness;

/// A source of verification keys.
///
/// The verifier asks for the keys that may verify a token after parsing its header and before
/// checking its signature. Answer with [`KeyLookup::Ready`] when the keys are in memory (no
/// allocation, no lock held for long, no I/O: this is every request's path), and with
/// [`KeyLookup::Pending`] only when keys must be fetched. The verifier then picks keys from the
/// returned set by `kid` and `alg` (see [`KeySet`]).
///
/// # A custom source
///
/// Keys kept in the application's own store, reloaded by the application when they change:
///
/// ```
/// use std::sync::{Arc, RwLock};
/// use jwt_layer::TokenHeader;
/// use jwt_layer::keys::{KeyError, KeyLookup, KeyProvider, KeySet, VerifyingKey};
///
/// #[derive(Default)]
/// struct TenantKeys {
///     current: RwLock<Arc<KeySet>>,
/// }
///
/// impl TenantKeys {
///     fn replace(&self, keys: Vec<VerifyingKey>) {
///         *self.current.write().unwrap() = Arc::new(KeySet::new(keys));
///     }
/// }
///
/// impl KeyProvider for TenantKeys {
///     fn lookup(&self, _header: &TokenHeader<'_>) -> KeyLookup {
///         let set = self.current.read().unwrap().clone();
///         if set.is_empty() {
///             return KeyLookup::Ready(Err(KeyError::Unavailable("no keys loaded yet".into())));
///         }
///         KeyLookup::Ready(Ok(set))
///     }
/// }
///
/// let store = Arc::new(TenantKeys::default());
/// store.replace(vec![VerifyingKey::hmac([42u8; 32])?.with_kid("t1")]);
/// # Ok::<(), KeyError>(())
/// ```
pub trait KeyProvider: Send + Sync + 'static {
    /// The keys that may verify a token with this header.
    fn lookup(&self, header: &TokenHeader<'_>) -> KeyLookup;

    /// Whether this source can supply keys now, for a readiness probe
    /// ([`JwtAuth::readiness`](crate::JwtAuth::readiness)). The default, right for keys held
    /// in memory, is [`Readiness::Ready`]; a source that fetches answers otherwise while it
    /// has no usable set. Must be cheap and must not wait.
    fn readiness(&self) -> Readiness {
        Readiness::Ready
    }
}

/// The answer of a [`KeyProvider`]: keys now, or a future that fetches them.
///
/// To say "no such key", answer with an empty set ([`KeyLookup::no_keys`]): the token is then
/// refused as `UnknownKey`. An `Err` means the source itself failed (`KeysUnavailable`, logged
/// as a warning). A pending future must be `'static`: clone what it needs (keep the provider's
/// state behind `Arc`s), and bound how often untrusted `kid`s can make it fetch.
pub enum KeyLookup {
    /// The keys are known now.
    Ready(Result<Arc<KeySet>, KeyError>),
    /// The keys must be fetched first.
    Pending(Pin<Box<dyn Future<Output = Result<Arc<KeySet>, KeyError>> + Send + 'static>>),
}

impl KeyLookup {
    /// An answer with no keys: the token is refused as carrying an unknown key.
    pub fn no_keys() -> Self {
        KeyLookup::Ready(Ok(Arc::new(KeySet::default())))
    }

    /// Wraps a future that fetches keys.
    pub fn pending(
        future: impl Future<Output = Result<Arc<KeySet>, KeyError>> + Send + 'static,
    ) -> Self {
        KeyLookup::Pending(Box::pin(future))
    }
}

impl Future for KeyLookup {
    type Output = Result<Arc<KeySet>, KeyError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            KeyLookup::Ready(result) => Poll::Ready(std::mem::replace(
                result,
                Err(KeyError::Unavailable("polled after completion".into())),
            )),
            KeyLookup::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for KeyLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyLookup::Ready(result) => f.debug_tuple("Ready").field(result).finish(),
            KeyLookup::Pending(_) => f.write_str("Pending"),
        }
    }
}

impl<P: KeyProvider + ?Sized> KeyProvider for Arc<P> {
    fn lookup(&self, header: &TokenHeader<'_>) -> KeyLookup {
        (**self).lookup(header)
    }

    fn readiness(&self) -> Readiness {
        (**self).readiness()
    }
}

impl<P: KeyProvider + ?Sized> KeyProvider for Box<P> {
    fn lookup(&self, header: &TokenHeader<'_>) -> KeyLookup {
        (**self).lookup(header)
    }

    fn readiness(&self) -> Readiness {
        (**self).readiness()
    }
}
