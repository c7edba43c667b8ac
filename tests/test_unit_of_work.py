"""`session_scope`: one commit, after-commit work that never undoes or hides a commit."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from licensing_api.accounts.models import Customer
from licensing_api.db import AfterCommitRetries, after_commit, create_engine, create_sessionmaker, session_scope


@pytest.fixture
async def sessionmaker_with_fast_retries(database_url: str):  # type: ignore[no-untyped-def]
    engine = create_engine(database_url)
    retries = AfterCommitRetries(first_delay=0.01, horizon=5)
    yield create_sessionmaker(engine, retries), retries
    await retries.close()
    await engine.dispose()


async def test_failing_after_commit_work_keeps_the_commit_and_is_retried_until_it_succeeds(
    sessionmaker_with_fast_retries,
):
    sessionmaker, retries = sessionmaker_with_fast_retries
    attempts: list[int] = []
    done = asyncio.Event()

    async def flaky() -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            raise ConnectionError("redis is down")
        done.set()

    async with session_scope(sessionmaker) as session:
        customer = Customer(email="after-commit@example.com")
        session.add(customer)
        after_commit(session, flaky)
    assert attempts == [1]  # ran once after the commit, failed, and the block did not raise
    async with session_scope(sessionmaker) as session:
        assert await session.scalar(select(Customer.id).where(Customer.id == customer.id)) is not None
    await asyncio.wait_for(done.wait(), 5)
    assert attempts == [1, 2, 3]
    assert retries.pending == 0


async def test_after_commit_work_is_dropped_when_the_transaction_rolls_back(sessionmaker_with_fast_retries):
    sessionmaker, _ = sessionmaker_with_fast_retries
    ran: list[str] = []

    async def work() -> None:
        ran.append("ran")

    with pytest.raises(LookupError):
        async with session_scope(sessionmaker) as session:
            after_commit(session, work)
            raise LookupError("the route failed")
    assert ran == []


async def test_a_failed_commit_is_the_callers_error_and_runs_no_after_commit_work(
    sessionmaker_with_fast_retries, database_url,
):
    from tests.support.commit_faults import failing_commit

    sessionmaker, _ = sessionmaker_with_fast_retries
    ran: list[str] = []

    async def work() -> None:
        ran.append("ran")

    class NotSaved(Exception):
        pass

    async with failing_commit(database_url, "customers", "INSERT"):
        with pytest.raises(NotSaved):
            async with session_scope(sessionmaker, commit_failed=lambda exc: NotSaved(str(exc))) as session:
                session.add(Customer(email="not-saved@example.com"))
                after_commit(session, work)
    assert ran == []
