// Multipart ZeroMQ messages as the controller and the client core handle
// them: frames kept as zmq::message_t so that forwarding never copies a
// payload. Header-only helpers; no state.
#pragma once

#include <cerrno>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "ensemble/wire/codec.hpp"
#include "ensemble/wire/signer.hpp"

namespace ensemble::parallel {

using Parts = std::vector<zmq::message_t>;

inline constexpr std::size_t kNoDelimiter = static_cast<std::size_t>(-1);

inline std::string_view view(const zmq::message_t& frame) {
  return {static_cast<const char*>(frame.data()), frame.size()};
}

// Index of the "<IDS|MSG>" frame, or kNoDelimiter.
inline std::size_t find_delimiter(const Parts& parts) {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (view(parts[i]) == wire::kDelimiter) return i;
  }
  return kNoDelimiter;
}

// True if the frames after the delimiter at `d` form a signed message whose
// signature verifies (signature, header, parent, metadata, content).
inline bool verified(const Parts& parts, std::size_t d, const wire::Signer& signer) {
  if (d == kNoDelimiter || parts.size() < d + 6) return false;
  return signer.verify(view(parts[d + 1]), view(parts[d + 2]), view(parts[d + 3]), view(parts[d + 4]),
                       view(parts[d + 5]));
}

// A ZeroMQ call fails with EINTR when a signal reaches the calling thread
// (Ctrl-C in a client's Python process), even a non-blocking one: the frame is
// still there to send or to take, so these try again.
inline zmq::recv_result_t receive_frame(zmq::socket_t& socket, zmq::message_t& frame, zmq::recv_flags flags) {
  while (true) {
    try {
      return socket.recv(frame, flags);
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) throw;
    }
  }
}

template <typename Frame>
zmq::send_result_t send_frame(zmq::socket_t& socket, Frame&& frame, zmq::send_flags flags) {
  while (true) {
    try {
      return socket.send(std::forward<Frame>(frame), flags);
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) throw;
    }
  }
}

// Non-blocking receive of one whole multipart message; false if none waits.
inline bool receive(zmq::socket_t& socket, Parts& parts) {
  parts.clear();
  while (true) {
    zmq::message_t frame;
    if (!receive_frame(socket, frame, parts.empty() ? zmq::recv_flags::dontwait : zmq::recv_flags::none)) {
      return false;
    }
    bool more = frame.more();
    parts.push_back(std::move(frame));
    if (!more) return true;
  }
}

inline void send(zmq::socket_t& socket, Parts& parts) {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    send_frame(socket, parts[i], i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

inline void send(zmq::socket_t& socket, const wire::Frames& frames) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    send_frame(socket, zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

// Shares payloads (ZeroMQ reference-counts large frames; small ones are copied).
inline Parts share(Parts& parts, std::size_t from = 0) {
  Parts copy;
  copy.reserve(parts.size() - from);
  for (std::size_t i = from; i < parts.size(); ++i) {
    copy.emplace_back();
    copy.back().copy(parts[i]);
  }
  return copy;
}

// Frames kept for a while (the task store's queue, a stored reply) are copied
// below this size and shared from it on: a received small frame points into
// ZeroMQ's 8 KiB receive buffer, and sharing it would pin the whole buffer;
// large frames have buffers of their own.
inline constexpr std::size_t kSharedFrameFrom = 64 * 1024;

// `parts` from index `from`, small frames copied and large ones shared.
inline Parts keep(Parts& parts, std::size_t from = 0) {
  Parts kept;
  kept.reserve(parts.size() - from);
  for (std::size_t i = from; i < parts.size(); ++i) {
    if (parts[i].size() < kSharedFrameFrom) {
      kept.emplace_back(parts[i].data(), parts[i].size());
    } else {
      kept.emplace_back();
      kept.back().copy(parts[i]);
    }
  }
  return kept;
}

inline wire::Frames to_frames(const Parts& parts) {
  wire::Frames frames;
  frames.reserve(parts.size());
  for (const auto& part : parts) frames.emplace_back(view(part));
  return frames;
}

}  // namespace ensemble::parallel
