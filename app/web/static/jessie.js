// Progressive enhancement only: every form works without it.
// A form marked data-busy says so the moment it is sent, and cannot be sent twice.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.busy) return;
  if (form.dataset.sent) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "yes";
  for (const button of form.querySelectorAll("button")) {
    button.disabled = true;
    button.textContent = form.dataset.busy;
  }
  form.setAttribute("aria-busy", "true");
});

// Times: the server writes UTC; here they read in the reader's own zone, as mail apps show
// them (the time today, day and month this year, the full date before), the exact time on hover.
function mailStyle(date, now) {
  if (date.toDateString() === now.toDateString()) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  const day = { day: "numeric", month: "short" };
  if (date.getFullYear() === now.getFullYear()) return date.toLocaleDateString([], day);
  return date.toLocaleDateString([], { ...day, year: "numeric" });
}

function localTimes() {
  const now = new Date();
  for (const element of document.querySelectorAll("time[datetime]")) {
    const date = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(date.getTime())) continue;
    element.title = date.toLocaleString([], { dateStyle: "full", timeStyle: "long" });
    element.textContent = element.dataset.style === "exact"
      ? date.toLocaleString([], { dateStyle: "medium", timeStyle: "medium" })
      : mailStyle(date, now);
  }
}

localTimes();

// HTML mail: its sandboxed frame (same origin, no script of its own) grows to the mail's height.
function fitFrame(frame) {
  const page = frame.contentDocument && frame.contentDocument.documentElement;
  if (page) frame.style.height = `${page.offsetHeight + 2}px`;
}

for (const frame of document.querySelectorAll("iframe.html-body")) {
  frame.addEventListener("load", () => fitFrame(frame));
  if (frame.contentDocument && frame.contentDocument.readyState === "complete") fitFrame(frame);
}
