package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// Step states.
const (
	StepPending = "pending"
	StepRunning = "running"
	StepDone    = "done"
	StepFailed  = "failed"
	StepSkipped = "skipped"
)

// Step is one step of a workflow as the `progress` query reports it.
type Step struct {
	Name   string
	Target string `json:",omitempty"`
	State  string
	// Started and Ended are workflow time (deterministic, from history).
	Started time.Time     `json:",omitempty"`
	Ended   time.Time     `json:",omitempty"`
	Took    time.Duration `json:",omitempty"`
	Detail  string        `json:",omitempty"`
}

// Progress is a workflow's list of steps; it is what the `progress` query
// returns and what results carry so the record outlives the workflow.
type Progress struct {
	Steps []Step
}

// planned adds a step in the pending state and returns its index.
func (p *Progress) planned(name, target string) int {
	p.Steps = append(p.Steps, Step{Name: name, Target: target, State: StepPending})
	return len(p.Steps) - 1
}

func (p *Progress) start(ctx workflow.Context, i int) {
	p.Steps[i].State = StepRunning
	p.Steps[i].Started = workflow.Now(ctx)
}

func (p *Progress) end(ctx workflow.Context, i int, state, detail string) {
	s := &p.Steps[i]
	s.State, s.Detail = state, detail
	s.Ended = workflow.Now(ctx)
	if !s.Started.IsZero() {
		s.Took = s.Ended.Sub(s.Started)
	}
}

// run executes fn as step i, recording its state, timing and error.
func (p *Progress) run(ctx workflow.Context, i int, fn func() (string, error)) error {
	p.start(ctx, i)
	detail, err := fn()
	if err != nil {
		p.end(ctx, i, StepFailed, err.Error())
		return err
	}
	p.end(ctx, i, StepDone, detail)
	return nil
}

// skipRest marks every step still pending as skipped (after a failure or
// an early, successful end).
func (p *Progress) skipRest(ctx workflow.Context, reason string) {
	for i := range p.Steps {
		if p.Steps[i].State == StepPending {
			p.Steps[i].State, p.Steps[i].Detail = StepSkipped, reason
		}
	}
}

// registerProgress exposes p through the `progress` query.
func registerProgress(ctx workflow.Context, p *Progress) error {
	return workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return *p, nil })
}
