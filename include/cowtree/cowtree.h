// cowtree public API — the one header a user includes.
//
//   #include <cowtree/cowtree.h>
//   auto store = cowtree::Store::Open("/tmp/db", cowtree::Options{}).value();
//   cowtree::WriteBatch b = store->NewBatch();
//   auto t = b.CreateTree<int64_t>("latency");
//   b.Add(t, 42, 1);
//   cowtree::Status s = store->Commit(b);
//   auto r = store->GetSnapshot().Tree<int64_t>("latency").value();
//   auto p99 = r.percentile_cont(0.99);  // Result<std::optional<double>>
//
// Headers: status.h (Status, Result), types.h (KeyType, Order, Direction), options.h
// (Options, WriteOptions), store.h (Store, WriteBatch, TreeHandle), bulk_loader.h (BulkLoader:
// many ops committed in key order), snapshot.h (Snapshot,
// TreeReader, Cursor), percentile_operator.h (PercentileOperator: grouped percentiles with
// output deltas). docs/api.md has the full contract and a complete example.
#pragma once

#include "cowtree/bulk_loader.h"
#include "cowtree/options.h"
#include "cowtree/percentile_operator.h"
#include "cowtree/snapshot.h"
#include "cowtree/status.h"
#include "cowtree/store.h"
#include "cowtree/types.h"
