(subject, payload) => {
  const jokesData = this.kv("dad_jokes").get("jokes");
  const jokes = JSON.parse(String.fromCharCode(...jokesData));
  const randomIndex = Math.floor(Math.random() * jokes.length);
  const joke = jokes[randomIndex];
  return { joke: joke.setup, punchline: joke.punchline };
};
