// cowtree public API: Status and Result<T> — errors are values, never exceptions.
//
// Contract
// - Status::ok() is true for success; otherwise code() says what kind of failure it was
//   (kNotFound, kInvalidArgument, kCorruption, kIOError, kNoSpace, kBusy, kNotSupported,
//   kPoisoned) and message() is a one-line description. ToString() is "<Code>: <message>".
// - Result<T> holds a value or a non-OK Status. ok() tells which; value(), operator* and
//   operator-> on an error print the status to stderr and abort (a programming error, like
//   dereferencing an empty std::optional); check ok() first.
// - Thread-safety: values; copying is safe from any thread.
//
// This header re-exports the library's own Status type (persistence/status.h), so that a
// Status from the public API and one from the internals are the same type.
#pragma once

#include "persistence/status.h"
