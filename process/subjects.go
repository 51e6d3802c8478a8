package process

import "github.com/jetsource/jetsource/streams"

// The third token of a timer subject: a schedule, or the message it fires.
const (
	scheduleToken = "at"
	firedToken    = "fired"
)

// ScheduleSubjects matches the schedules of a process's timers,
// timers.<process>.at.<type>.<id>: what Commands.Schedule publishes.
func ScheduleSubjects(process string) string { return timerSubjects(process, scheduleToken) }

// FiredSubjects matches the timers of a process that fired,
// timers.<process>.fired.<type>.<id>: what its timer consumer follows.
func FiredSubjects(process string) string { return timerSubjects(process, firedToken) }

func timerSubjects(process, token string) string { return timerPrefix(process, token) + ">" }

// timerPrefix is timers.<process>.<token>., before <type>.<id>.
func timerPrefix(process, token string) string {
	return TimerPrefix + "." + process + "." + token + "."
}

// scheduleSubject and firedSubject are a timer's subjects.
func (m *Manager) scheduleSubject(ref streams.Ref) string {
	return timerPrefix(m.p.Name, scheduleToken) + ref.Type() + "." + ref.ID()
}

func (m *Manager) firedSubject(ref streams.Ref) string {
	return timerPrefix(m.p.Name, firedToken) + ref.Type() + "." + ref.ID()
}
