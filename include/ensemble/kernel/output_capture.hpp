// Output written below Python's sys.stdout/sys.stderr (C and Fortran libraries, child
// processes, os.write, sys.__stderr__) reaches the frontend as stream output, as under
// ipykernel 6: the process's descriptors 1 and 2 are pipes that a reader thread drains.
//
// The process must log through another descriptor (cli/main.cpp logs to a copy of the
// original stderr), or its log would become stream output.
//
// Threads: one reader thread ("fd-capture") hands text to the sink; drain() may be called
// from any thread, and both hold one mutex while they read, so text keeps its order.
// The sink is called with that mutex held and must not call drain().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace ensemble::kernel {

class OutputCapture {
 public:
  // `name` is "stdout" or "stderr"; `text` is valid UTF-8 (bytes that are not become U+FFFD).
  using Sink = std::function<void(const std::string& name, std::string_view text)>;

  // Puts pipes in place of descriptors 1 and 2 and starts reading them. Returns nullptr
  // (and logs why) if the pipes cannot be made; the descriptors are then untouched.
  static std::unique_ptr<OutputCapture> start(Sink sink);
  // Stops reading and puts the original descriptors back.
  ~OutputCapture();
  OutputCapture(const OutputCapture&) = delete;
  OutputCapture& operator=(const OutputCapture&) = delete;

  // Flushes C's stdio buffers and hands over what the pipes hold now: call before a
  // reply, so that a cell's output comes before it.
  void drain();

  struct Impl;

 private:
  explicit OutputCapture(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The longest prefix of `bytes` that does not end inside a UTF-8 sequence, and `bytes`
// made valid UTF-8 (each byte that is not part of a valid sequence becomes U+FFFD).
std::size_t complete_utf8_prefix(std::string_view bytes);
std::string valid_utf8(std::string_view bytes);

}  // namespace ensemble::kernel
