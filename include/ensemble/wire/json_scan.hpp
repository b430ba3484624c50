// Reading a few top-level string members of a JSON object without building
// a document. Every message a client or controller receives carries four JSON
// frames, and a DOM parse of each (nlohmann) was a third of the client's event
// thread; most readers want two or three strings out of them.
//
// Thread safety: pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace ensemble::wire {

// Reads the string members named `names[i]` at the top level of the JSON
// object in `text` into `values[i]` (left empty when absent or not a string;
// the last wins when a name repeats, as with nlohmann's parser). Escapes are
// decoded. Values that are not wanted are skipped, checked only for shape:
// terminated strings, balanced brackets, nesting at most 512 deep.
// Returns false, with `values` unspecified, if `text` is not an object of
// that shape. Requires values.size() >= names.size().
bool scan_string_members(std::string_view text, std::span<const std::string_view> names,
                         std::span<std::string> values);

// One top-level string member (say a header's "msg_type"); empty when absent,
// not a string, or `text` is not an object.
std::string string_member(std::string_view text, std::string_view name);

}  // namespace ensemble::wire
