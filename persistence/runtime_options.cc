// Durability names (persistence/runtime_options.h).
#include "persistence/runtime_options.h"

namespace cowtree {

const char* DurabilityName(Durability d) {
  switch (d) {
    case Durability::kStrict:
      return "strict";
    case Durability::kBalanced:
      return "balanced";
    case Durability::kEventual:
      return "eventual";
  }
  return "?";
}

bool ParseDurability(std::string_view name, Durability* out) {
  if (name == "strict")
    *out = Durability::kStrict;
  else if (name == "balanced")
    *out = Durability::kBalanced;
  else if (name == "eventual")
    *out = Durability::kEventual;
  else
    return false;
  return true;
}

}  // namespace cowtree
