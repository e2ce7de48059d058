#pragma once

#include <stdexcept>
#include <string>

#include "memopt/analysis/event.hpp"

namespace memopt::testing {

/// The payload of `e` as a `P`. An event of another family fails the test that asked (a
/// std::logic_error naming the kind it has), never a null read.
template <analysis::EventPayloadType P>
const P& payload_of(const analysis::Event& e) {
  const auto* payload = e.payload_if<P>();
  if (payload == nullptr) {
    throw std::logic_error(std::string("the event is ") + analysis::to_string(e.kind()) +
                           ", not of the family asked for");
  }
  return *payload;
}

}  // namespace memopt::testing
