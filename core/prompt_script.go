package core

import (
	"context"
	"fmt"
	"sync"
)

// ScriptedPrompter answers from a list of secrets and records every request
// and notification. It is meant for tests of anything that prompts.
type ScriptedPrompter struct {
	mu       sync.Mutex
	answers  []string
	Requests []PromptRequest // every request, in order
	Notes    []string        // every Notify message, in order
}

// NewScriptedPrompter returns a prompter that answers with answers in turn
// and then fails with ErrNoMoreSecrets.
func NewScriptedPrompter(answers ...string) *ScriptedPrompter {
	return &ScriptedPrompter{answers: answers}
}

// Ask records req and returns the next scripted answer.
func (p *ScriptedPrompter) Ask(ctx context.Context, req PromptRequest) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Requests = append(p.Requests, req)
	if len(p.answers) == 0 {
		return nil, fmt.Errorf("%w: the script has no more answers", ErrNoMoreSecrets)
	}
	a := p.answers[0]
	p.answers = p.answers[1:]
	return []byte(a), nil
}

// Notify records msg.
func (p *ScriptedPrompter) Notify(ctx context.Context, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Notes = append(p.Notes, msg)
}

// Asked returns a copy of the requests made so far.
func (p *ScriptedPrompter) Asked() []PromptRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PromptRequest(nil), p.Requests...)
}
