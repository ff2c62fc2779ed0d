// Catalog entries for tests of the catalog readers (recovery/store_reader.h,
// recovery/cold_index_builder.h): a valid entry of type 1 whose descriptor is derived from its
// tree id. Header-only.
#pragma once

#include <string>
#include <utility>

#include "persistence/catalog_format.h"

namespace cowtree::testutil {

inline CatalogEntry CatalogEntryOf(TreeId id, std::string name) {
  CatalogEntry e;
  e.tree_id = id;
  e.descriptor = NodeID::Make(100 + id, 1);
  e.create_epoch = 1;
  e.type_id = 1;
  e.name = std::move(name);
  return e;
}

}  // namespace cowtree::testutil
