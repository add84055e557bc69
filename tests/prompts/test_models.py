"""TextPrompt and ChatPrompt: attributes, Jinja2 rendering with StrictUndefined, render errors."""

from __future__ import annotations

import pytest

from graflow.exceptions import GraflowError
from graflow.prompts import ChatPrompt, PromptCompilationError, PromptVersion, TextPrompt


def test_text_prompt_keeps_the_02_constructor_and_attributes() -> None:
    prompt = TextPrompt("greeting", "Hi {{ name }}", 3, "staging", "2024-05-01", {"owner": "docs"})

    assert (prompt.name, prompt.content, prompt.version, prompt.label) == ("greeting", "Hi {{ name }}", 3, "staging")
    assert (prompt.created_at, prompt.metadata) == ("2024-05-01", {"owner": "docs"})
    assert isinstance(prompt, PromptVersion)
    assert repr(prompt) == "TextPrompt(name='greeting', version=3, label='staging')"


def test_metadata_defaults_to_an_empty_dict() -> None:
    assert TextPrompt("t", "x").metadata == {}
    assert ChatPrompt("c", []).metadata == {}


def test_text_render_substitutes_variables() -> None:
    assert TextPrompt("greeting", "Hello {{ name }}, welcome to {{ product }}!").render(
        name="Ada", product="Graflow"
    ) == "Hello Ada, welcome to Graflow!"


def test_text_render_supports_jinja_control_flow_and_filters() -> None:
    template = "{% for item in items %}- {{ item | upper }}\n{% endfor %}{{ missing | default('none') }}"

    assert TextPrompt("list", template).render(items=["a", "b"]) == "- A\n- B\nnone"


def test_a_variable_used_only_in_a_branch_not_taken_is_not_required() -> None:
    prompt = TextPrompt("p", "{% if verbose %}{{ detail }}{% else %}short{% endif %}")

    assert prompt.render(verbose=False) == "short"


def test_missing_variable_raises_compilation_error_naming_it() -> None:
    prompt = TextPrompt("greeting", "Hello {{ name }}, welcome to {{ product }}!")

    with pytest.raises(PromptCompilationError) as caught:
        prompt.render(name="Ada")

    error = caught.value
    assert str(error).startswith("Failed to compile prompt 'greeting': 'product' is undefined")
    assert error.prompt_name == "greeting"
    assert error.missing_variables == ["product"]
    assert isinstance(error, GraflowError)
    assert error.__cause__ is not None


def test_missing_variables_lists_every_variable_not_given() -> None:
    with pytest.raises(PromptCompilationError) as caught:
        TextPrompt("p", "{{ a }} {{ b }} {{ c }}").render(b=1)

    assert caught.value.missing_variables == ["a", "c"]
    assert "variables not given: a, c" in str(caught.value)


def test_template_syntax_error_raises_compilation_error_with_its_line() -> None:
    with pytest.raises(PromptCompilationError, match=r"template syntax error on line 2"):
        TextPrompt("broken", "first line\n{% if x %}never closed").render(x=True)


def test_an_exception_inside_the_template_becomes_a_compilation_error() -> None:
    with pytest.raises(PromptCompilationError, match="ZeroDivisionError") as caught:
        TextPrompt("math", "{{ 1 / n }}").render(n=0)

    assert isinstance(caught.value.cause, ZeroDivisionError)
    assert caught.value.missing_variables == []


def test_templates_cannot_reach_python_internals() -> None:
    # Prompt text may come from a server: the sandbox refuses attribute access to interpreter internals.
    with pytest.raises(PromptCompilationError):
        TextPrompt("evil", "{{ ''.__class__.__mro__[1].__subclasses__() }}").render()


def test_render_accepts_any_keyword_as_a_variable_name() -> None:
    assert TextPrompt("p", "{{ x }}").render(self="unused", x=1) == "1"
    assert ChatPrompt("c", [{"role": "user", "content": "{{ x }}"}]).render(self="unused", x=2)[0]["content"] == "2"


def test_text_variables_lists_the_template_variables() -> None:
    assert TextPrompt("p", "{{ b }} {% for x in items %}{{ x }}{% endfor %} {{ a.name }}").variables == [
        "a", "b", "items"
    ]


def test_chat_render_renders_every_message_and_returns_new_dicts() -> None:
    content = [
        {"role": "system", "content": "You are an expert in {{ domain }}."},
        {"role": "user", "content": "Interview me about {{ topic }}.", "name": "ada"},
    ]
    prompt = ChatPrompt("interview", content)

    messages = prompt.render(domain="databases", topic="transformers")

    assert messages == [
        {"role": "system", "content": "You are an expert in databases."},
        {"role": "user", "content": "Interview me about transformers.", "name": "ada"},
    ]
    assert prompt.content[0]["content"] == "You are an expert in {{ domain }}."
    assert messages[0] is not content[0]


def test_chat_render_keeps_non_string_content_as_is() -> None:
    call = [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    prompt = ChatPrompt("tools", [{"role": "assistant", "content": None, "tool_calls": call}])

    assert prompt.render() == [{"role": "assistant", "content": None, "tool_calls": call}]


def test_chat_missing_variable_raises_compilation_error() -> None:
    prompt = ChatPrompt("interview", [{"role": "user", "content": "About {{ topic }}"}])

    with pytest.raises(PromptCompilationError, match=r"'topic' is undefined") as caught:
        prompt.render()

    assert caught.value.missing_variables == ["topic"]


def test_chat_placeholder_is_replaced_by_the_messages_given_under_its_name() -> None:
    prompt = ChatPrompt("chat", [
        {"role": "system", "content": "Be brief."},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "{{ question }}"},
    ])
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]

    messages = prompt.render(history=history, question="why?")

    assert [m["content"] for m in messages] == ["Be brief.", "hi", "hello", "why?"]
    assert messages[1] is not history[0]
    assert prompt.variables == ["history", "question"]


def test_chat_placeholder_without_a_value_is_an_error() -> None:
    prompt = ChatPrompt("chat", [{"type": "placeholder", "name": "history"}])

    with pytest.raises(PromptCompilationError, match="placeholder 'history' is undefined"):
        prompt.render()
    with pytest.raises(PromptCompilationError, match="list of message dicts"):
        prompt.render(history="not a list")


def test_base_prompt_version_does_not_render() -> None:
    with pytest.raises(NotImplementedError):
        PromptVersion("p").render()
