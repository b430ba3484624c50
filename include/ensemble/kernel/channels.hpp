// How the kernel's main thread (Python) and its I/O thread (sockets) talk.
// The main thread never touches a socket: it takes requests from an Inbox and
// hands everything it sends to an Outbox, which the I/O thread drains. The
// dispatcher sees only these interfaces, so it runs against fakes in tests.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ensemble/wire/message.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::kernel {

using wire::Json;

enum class Route { kShell, kControl, kStdin, kIopub };

struct Incoming {
  enum class Kind { kShellRequest, kInputReply, kShutdown };
  Kind kind = Kind::kShellRequest;
  wire::Message message;
  bool restart = false;  // with kShutdown
};

// I/O thread -> main thread. Single consumer (the main thread).
class Inbox {
 public:
  virtual ~Inbox() = default;
  // Blocks until something arrives. Errors: kInterrupted when a signal was
  // delivered to the waiting thread first.
  virtual wire::Result<Incoming> wait() = 0;
  // Returns what is queued without blocking.
  virtual std::optional<Incoming> try_take() = 0;
};

// The parent header shared by every stream write of one request; identity
// of the pointer is what lets consecutive writes coalesce.
using ParentPtr = std::shared_ptr<const Json>;

// Any thread -> I/O thread. Everything sent keeps its order, stream text
// included: stream writes coalesce into the newest entry while nothing else
// was sent after it. Thread-safe.
class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual void send(Route route, wire::Message message) = 0;
  // Like send, but without waking the I/O thread: for a message that a send
  // or flush() follows promptly (a reply before its idle status). Saves a
  // cross-thread wake-up per message.
  virtual void enqueue(Route route, wire::Message message) = 0;
  virtual void write_stream(const std::string& name, std::string_view text, const ParentPtr& parent) = 0;
  // Asks for pending stream text to go out now rather than after the batching delay.
  virtual void flush() = 0;
  // Sends the stream text written so far (sys.stdout.flush()). Without any,
  // it need not wake the sender: what else is queued goes with the next flush().
  virtual void flush_streams() { flush(); }
};

}  // namespace ensemble::kernel
